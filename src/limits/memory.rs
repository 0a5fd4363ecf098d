//! Per-process limits: one keyed `governor` limiter per rule.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota as GovernorQuota};

use super::{Limited, Rule};
use crate::config::Quota;

/// How often (in checks) keys whose allowance has fully come back are forgotten, so a flood
/// from many addresses does not grow the maps for ever.
const SWEEP_EVERY: u64 = 4096;

pub struct MemoryLimits {
    limiters: HashMap<Rule, DefaultKeyedRateLimiter<String>>,
    checks: AtomicU64,
    clock: DefaultClock,
}

impl MemoryLimits {
    pub fn new(quotas: &[(Rule, Quota)]) -> Self {
        let limiters = quotas
            .iter()
            .map(|(rule, quota)| {
                let burst = NonZeroU32::new(quota.burst).unwrap_or(NonZeroU32::MIN);
                let replenish = GovernorQuota::with_period(quota.interval())
                    .unwrap_or_else(|| GovernorQuota::per_second(NonZeroU32::MAX))
                    .allow_burst(burst);
                (*rule, DefaultKeyedRateLimiter::keyed(replenish))
            })
            .collect();
        Self {
            limiters,
            checks: AtomicU64::new(0),
            clock: DefaultClock::default(),
        }
    }

    pub fn check(&self, rule: Rule, key: &str) -> Result<(), Limited> {
        let Some(limiter) = self.limiters.get(&rule) else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            for limiter in self.limiters.values() {
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        }
        limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| Limited {
                retry_after: not_until.wait_time_from(self.clock.now()),
            })
    }
}
