//! The abuse-protection sections: `[rate_limit]` (request rates per client address or user)
//! and `[lockout]` (repeated failed logins for one account).

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A GCRA quota: up to `burst` requests at once, refilled evenly over `period` (so "5/5m" is a
/// burst of 5 and then one more every minute). Written `COUNT/PERIOD` with PERIOD in `s`, `m`,
/// `h` or `d` (`30/1m`, `150/5m`); `off` disables the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub burst: u32,
    pub period: Duration,
}

impl Quota {
    /// The time one request's allowance takes to come back.
    pub fn interval(&self) -> Duration {
        self.period / self.burst.max(1)
    }
}

/// Parses `COUNT/PERIOD` or `off`; `None` is off.
pub fn parse_quota(text: &str) -> Result<Option<Quota>, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") || text == "0" {
        return Ok(None);
    }
    let invalid = || format!("{text:?} is not COUNT/PERIOD (e.g. 30/1m, 5/5m, 100/1h) or off");
    let (count, period) = text.split_once('/').ok_or_else(invalid)?;
    let burst: u32 = count.trim().parse().map_err(|_| invalid())?;
    let period = period.trim();
    let (number, unit) = period.split_at(period.len().saturating_sub(1));
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(invalid()),
    };
    let number: u64 = if number.is_empty() {
        1
    } else {
        number.parse().map_err(|_| invalid())?
    };
    if burst == 0 || number == 0 {
        return Err(invalid());
    }
    Ok(Some(Quota {
        burst,
        period: Duration::from_secs(number * unit_secs),
    }))
}

fn quota<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Quota>, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_quota(&text).map_err(serde::de::Error::custom)
}

#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitSettings {
    /// Off: no request is ever limited (lockout has its own switch).
    pub enabled: bool,
    /// `redis://` or `rediss://` URL: limits shared by every replica. Empty: per process.
    #[serde(default)]
    pub redis_url: secrecy::SecretString,
    pub redis_key_prefix: String,
    #[serde(deserialize_with = "quota")]
    pub login_per_ip: Option<Quota>,
    #[serde(deserialize_with = "quota")]
    pub register_per_ip: Option<Quota>,
    #[serde(deserialize_with = "quota")]
    pub refresh_per_ip: Option<Quota>,
    #[serde(deserialize_with = "quota")]
    pub password_change_per_user: Option<Quota>,
    #[serde(deserialize_with = "quota")]
    pub oidc_authorize_per_ip: Option<Quota>,
    #[serde(deserialize_with = "quota")]
    pub oidc_callback_per_ip: Option<Quota>,
    /// Every request that sends an email, per client address and per recipient (or user).
    #[serde(deserialize_with = "quota")]
    pub email_send_per_ip: Option<Quota>,
    #[serde(deserialize_with = "quota")]
    pub email_send_per_address: Option<Quota>,
    /// API keys made per user: the cap on live keys does not stop a revoke-and-create loop.
    #[serde(deserialize_with = "quota")]
    pub api_key_create_per_user: Option<Quota>,
    /// Unexpired OpenID Connect authorize requests kept at once, across all clients.
    pub oidc_max_pending_states: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LockoutSettings {
    pub enabled: bool,
    /// Failed logins for one account within `window_secs` that lock it.
    pub max_failures: u32,
    pub window_secs: u64,
    /// The first lock; each further lock in a row lasts twice as long, up to `max_lock_secs`.
    pub lock_secs: u64,
    pub max_lock_secs: u64,
    /// An address the account signed in from within this many days is familiar: the lock
    /// does not apply to it, so a stranger's flood cannot keep the owner out.
    pub familiar_ip_days: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_parse_count_and_period() {
        let q = |burst, secs| {
            Some(Quota {
                burst,
                period: Duration::from_secs(secs),
            })
        };
        assert_eq!(parse_quota("30/1m"), Ok(q(30, 60)));
        assert_eq!(parse_quota(" 5/5m "), Ok(q(5, 300)));
        assert_eq!(parse_quota("150/300s"), Ok(q(150, 300)));
        assert_eq!(parse_quota("10/h"), Ok(q(10, 3600)));
        assert_eq!(parse_quota("2/1d"), Ok(q(2, 86400)));
        assert_eq!(parse_quota("off"), Ok(None));
        assert_eq!(parse_quota("0"), Ok(None));
        for bad in [
            "", "30", "30/", "/1m", "30/1", "30/1w", "0/1m", "30/0m", "-1/1m", "x/1m",
        ] {
            assert!(parse_quota(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(q(5, 300).unwrap().interval(), Duration::from_secs(60));
    }
}
