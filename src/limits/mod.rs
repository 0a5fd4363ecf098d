//! Rate limits: one GCRA quota per rule (`[rate_limit]`), counted per key (a client address or
//! a user id). In memory by default, through `governor`; with `rate_limit.redis_url`, in Redis,
//! so that every replica counts against the same allowance. No HTTP types here: the routes
//! decide the key and turn `Limited` into a 429.

mod memory;
mod shared;

use std::time::Duration;

use crate::config::{Quota, RateLimitSettings};
use memory::MemoryLimits;
use shared::RedisLimits;

/// What is limited. Each rule has its own quota and its own counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    LoginPerIp,
    RegisterPerIp,
    RefreshPerIp,
    PasswordChangePerUser,
    OidcAuthorizePerIp,
    OidcCallbackPerIp,
    EmailSendPerIp,
    EmailSendPerAddress,
    ApiKeyCreatePerUser,
}

impl Rule {
    pub const ALL: [Rule; 9] = [
        Rule::LoginPerIp,
        Rule::RegisterPerIp,
        Rule::RefreshPerIp,
        Rule::PasswordChangePerUser,
        Rule::OidcAuthorizePerIp,
        Rule::OidcCallbackPerIp,
        Rule::EmailSendPerIp,
        Rule::EmailSendPerAddress,
        Rule::ApiKeyCreatePerUser,
    ];

    /// Its name in the configuration and in Redis keys.
    pub fn name(self) -> &'static str {
        match self {
            Rule::LoginPerIp => "login_per_ip",
            Rule::RegisterPerIp => "register_per_ip",
            Rule::RefreshPerIp => "refresh_per_ip",
            Rule::PasswordChangePerUser => "password_change_per_user",
            Rule::OidcAuthorizePerIp => "oidc_authorize_per_ip",
            Rule::OidcCallbackPerIp => "oidc_callback_per_ip",
            Rule::EmailSendPerIp => "email_send_per_ip",
            Rule::EmailSendPerAddress => "email_send_per_address",
            Rule::ApiKeyCreatePerUser => "api_key_create_per_user",
        }
    }

    fn quota(self, settings: &RateLimitSettings) -> Option<Quota> {
        match self {
            Rule::LoginPerIp => settings.login_per_ip,
            Rule::RegisterPerIp => settings.register_per_ip,
            Rule::RefreshPerIp => settings.refresh_per_ip,
            Rule::PasswordChangePerUser => settings.password_change_per_user,
            Rule::OidcAuthorizePerIp => settings.oidc_authorize_per_ip,
            Rule::OidcCallbackPerIp => settings.oidc_callback_per_ip,
            Rule::EmailSendPerIp => settings.email_send_per_ip,
            Rule::EmailSendPerAddress => settings.email_send_per_address,
            Rule::ApiKeyCreatePerUser => settings.api_key_create_per_user,
        }
    }
}

/// Over the limit; the next request of this key is allowed after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: Duration,
}

pub struct RateLimits {
    quotas: Vec<(Rule, Quota)>,
    memory: MemoryLimits,
    redis: Option<RedisLimits>,
    /// The (rule, key) pairs refused lately, so that a flood is reported once a minute and not
    /// once per refused request (`first_report`).
    reported: moka::future::Cache<(Rule, String), ()>,
    /// Refusals by rule (`authd_rate_limited_total`).
    refused: Option<prometheus::IntCounterVec>,
}

/// How long a refusal of one (rule, key) stays reported, and how many pairs are remembered.
const REPORT_EVERY: Duration = Duration::from_secs(60);
const REPORTS_REMEMBERED: u64 = 10_000;

impl RateLimits {
    pub fn new(settings: &RateLimitSettings) -> Result<Self, String> {
        let quotas: Vec<(Rule, Quota)> = if settings.enabled {
            Rule::ALL
                .iter()
                .filter_map(|rule| Some((*rule, rule.quota(settings)?)))
                .collect()
        } else {
            Vec::new()
        };
        let redis_url = secrecy::ExposeSecret::expose_secret(&settings.redis_url);
        let redis = if settings.enabled && !redis_url.is_empty() {
            Some(RedisLimits::new(redis_url, &settings.redis_key_prefix)?)
        } else {
            None
        };
        Ok(Self {
            memory: MemoryLimits::new(&quotas),
            quotas,
            redis,
            reported: moka::future::Cache::builder()
                .time_to_live(REPORT_EVERY)
                .max_capacity(REPORTS_REMEMBERED)
                .build(),
            refused: None,
        })
    }

    /// Whether a refusal of `key` under `rule` is the first in a minute (then it is worth an
    /// audit event).
    pub async fn first_report(&self, rule: Rule, key: &str) -> bool {
        self.reported
            .entry((rule, key.to_owned()))
            .or_insert(())
            .await
            .is_fresh()
    }

    /// Counts each refusal in `refused`, labelled with the rule's name.
    pub fn count_refusals(mut self, refused: prometheus::IntCounterVec) -> Self {
        self.refused = Some(refused);
        self
    }

    /// Counts one request of `key` under `rule`. Redis, when configured, decides; if it does
    /// not answer, this process's own counts do, so the protection never simply turns off.
    pub async fn check(&self, rule: Rule, key: &str) -> Result<(), Limited> {
        let decision = self.decide(rule, key).await;
        if let (Err(_), Some(refused)) = (&decision, &self.refused) {
            refused.with_label_values(&[rule.name()]).inc();
        }
        decision
    }

    async fn decide(&self, rule: Rule, key: &str) -> Result<(), Limited> {
        let Some((_, quota)) = self.quotas.iter().find(|(r, _)| *r == rule) else {
            return Ok(());
        };
        if let Some(redis) = &self.redis {
            if let Some(decision) = redis.check(rule, key, *quota).await {
                return decision;
            }
        }
        self.memory.check(rule, key)
    }
}
