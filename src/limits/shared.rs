//! Limits shared by every replica, in Redis. Redis runs the same GCRA as `governor` does in
//! memory, as one Lua script, so the check and the update are one atomic step for all
//! replicas; its own clock (TIME) is the only clock involved. (No maintained Rust crate offers
//! GCRA over Redis; the script is the well-known form of the algorithm, as in
//! go-redis/redis_rate and redis-gcra.)

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use super::{Limited, Rule};
use crate::config::Quota;

/// KEYS[1] holds the theoretical arrival time in milliseconds; ARGV[1] is the interval one
/// request uses up, ARGV[2] the burst. Returns 0 when allowed (and records it), else the
/// milliseconds until the next request of this key would be.
const GCRA: &str = r"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local allowed_at = tat + interval - burst * interval
if allowed_at > now then return allowed_at - now end
local new_tat = tat + interval
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
return 0
";

/// A Redis that does not answer within this is treated as down for this request.
const TIMEOUT: Duration = Duration::from_millis(250);
/// After a failure, requests use the local limits for this long before Redis is tried again,
/// so an outage does not add a timeout to every request.
const BACKOFF_MS: i64 = 2000;

pub struct RedisLimits {
    client: redis::Client,
    prefix: String,
    connection: OnceCell<ConnectionManager>,
    script: redis::Script,
    /// Unix milliseconds before which Redis is not asked (after a failure).
    skip_until_ms: AtomicI64,
}

impl RedisLimits {
    pub fn new(url: &str, prefix: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| {
            // The URL may hold a password; redis's error does not repeat the URL.
            format!("rate_limit.redis_url: {e}")
        })?;
        Ok(Self {
            client,
            prefix: prefix.to_owned(),
            connection: OnceCell::new(),
            script: redis::Script::new(GCRA),
            skip_until_ms: AtomicI64::new(0),
        })
    }

    /// Redis's decision, or `None` when Redis cannot give one now.
    pub async fn check(&self, rule: Rule, key: &str, quota: Quota) -> Option<Result<(), Limited>> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        if now_ms < self.skip_until_ms.load(Ordering::Relaxed) {
            return None;
        }
        match tokio::time::timeout(TIMEOUT, self.ask(rule, key, quota)).await {
            Ok(Ok(0)) => Some(Ok(())),
            Ok(Ok(wait_ms)) => Some(Err(Limited {
                retry_after: Duration::from_millis(wait_ms),
            })),
            Ok(Err(error)) => self.unavailable(now_ms, &error.to_string()),
            Err(_) => self.unavailable(now_ms, "no answer within 250 ms"),
        }
    }

    async fn ask(&self, rule: Rule, key: &str, quota: Quota) -> redis::RedisResult<u64> {
        let mut connection = self
            .connection
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(TIMEOUT))
                    .set_response_timeout(Some(TIMEOUT))
                    .set_number_of_retries(1);
                ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            })
            .await?
            .clone();
        let interval_ms = u64::try_from(quota.interval().as_millis()).unwrap_or(u64::MAX / 4);
        self.script
            .key(format!("{}{}:{key}", self.prefix, rule.name()))
            .arg(interval_ms.max(1))
            .arg(quota.burst)
            .invoke_async(&mut connection)
            .await
    }

    fn unavailable(&self, now_ms: i64, reason: &str) -> Option<Result<(), Limited>> {
        // One line per back-off period, not one per request.
        let previous = self
            .skip_until_ms
            .swap(now_ms + BACKOFF_MS, Ordering::Relaxed);
        if previous <= now_ms {
            log::warn!(
                "rate limits: Redis unavailable ({reason}); this process counts alone for now"
            );
        }
        None
    }
}
