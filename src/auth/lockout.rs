//! Account lockout after repeated failed password checks, built so that an attacker cannot
//! use it against the owner:
//!
//! - counted per account (`user:<id>`), or per login name when no account has it, the same
//!   way: whether a name gets locked tells nothing about whether it has an account;
//! - a lock applies only to client addresses the account has not signed in from recently, so
//!   a stranger's flood does not keep the owner out at their usual places (the trade-off: on a
//!   new network, the owner waits out the lock like anyone else);
//! - locks grow (each lock in a row lasts twice as long, up to a maximum) instead of being
//!   permanent, and a successful password check clears the count.
//!
//! The state is in the database, so every replica sees the same counts. Time is passed in.

use chrono::{Duration, NaiveDateTime};

use crate::config::LockoutSettings;
use crate::db::lockout::{LoginFailures, LoginSource};
use crate::db::DbConnection;
use crate::errors::ApiResult;

#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    enabled: bool,
    max_failures: i32,
    window: Duration,
    lock: Duration,
    max_lock: Duration,
    familiar_for: Duration,
}

/// Who failures are counted for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginKey(String);

impl LoginKey {
    pub fn user(user_id: &str) -> Self {
        Self(format!("user:{user_id}"))
    }

    /// A login name that matches no account, in the form it would be stored (email key or
    /// username key), so that spellings of one name share a count.
    pub fn name(normalised: &str) -> Self {
        Self(format!("name:{normalised}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For the log: which account, or that it was a name without one (the name is not
    /// logged, it may be someone's email address).
    fn describe(&self) -> String {
        match self.0.strip_prefix("user:") {
            Some(id) => format!("user {id}"),
            None => "a login name with no account".to_owned(),
        }
    }
}

/// Locked; the next attempt may come at `until`. Answered like a rate limit (429), which it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locked {
    pub until: NaiveDateTime,
}

impl Locked {
    pub fn wait(&self, now: NaiveDateTime) -> std::time::Duration {
        let millis = (self.until - now).num_milliseconds().max(0);
        std::time::Duration::from_millis(millis.unsigned_abs())
    }
}

impl LockoutPolicy {
    pub fn from_settings(settings: &LockoutSettings) -> Self {
        let secs = |value: u64| Duration::seconds(i64::try_from(value).unwrap_or(i64::MAX / 4));
        Self {
            enabled: settings.enabled,
            max_failures: i32::try_from(settings.max_failures).unwrap_or(i32::MAX),
            window: secs(settings.window_secs),
            lock: secs(settings.lock_secs),
            max_lock: secs(settings.max_lock_secs.max(settings.lock_secs)),
            familiar_for: Duration::days(i64::try_from(settings.familiar_ip_days).unwrap_or(0)),
        }
    }

    /// Whether a password check for `key` from `address` may go ahead at `now`. `user_id` is
    /// the account's, when there is one: its familiar addresses are spared.
    pub fn check(
        &self,
        conn: &mut DbConnection,
        key: &LoginKey,
        user_id: Option<&str>,
        address: &str,
        now: NaiveDateTime,
    ) -> ApiResult<Result<(), Locked>> {
        if !self.enabled {
            return Ok(Ok(()));
        }
        let Some(until) = LoginFailures::find(conn, key.as_str())?
            .and_then(|row| row.locked_until)
            .filter(|until| *until > now)
        else {
            return Ok(Ok(()));
        };
        if let Some(user_id) = user_id {
            if LoginSource::is_familiar(conn, user_id, address, now - self.familiar_for)? {
                return Ok(Ok(()));
            }
        }
        log::warn!(
            "lockout: password check for {} from {address} refused, locked until {until}",
            key.describe()
        );
        Ok(Err(Locked { until }))
    }

    /// Counts a failed password check; starts a lock when it was one too many.
    /// A wrong password: counted, and the login locked once there are too many. Returns
    /// whether this failure started a lock.
    pub fn record_failure(
        &self,
        conn: &mut DbConnection,
        key: &LoginKey,
        address: &str,
        now: NaiveDateTime,
    ) -> ApiResult<bool> {
        if !self.enabled {
            return Ok(false);
        }
        LoginFailures::count_failure(
            conn,
            key.as_str(),
            now,
            now - self.window,
            now - self.max_lock,
        )?;
        if let Some(lockouts) = LoginFailures::start_lock(conn, key.as_str(), self.max_failures)? {
            let doublings = u32::try_from(lockouts.saturating_sub(1).min(20)).unwrap_or(20);
            let length = self
                .lock
                .checked_mul(1 << doublings)
                .map_or(self.max_lock, |lock| lock.min(self.max_lock));
            let until = now + length;
            LoginFailures::lock_until(conn, key.as_str(), until)?;
            log::warn!(
                "lockout: {} locked until {until} after {} failed password checks (lock {lockouts} \
                 in a row; the last from {address})",
                key.describe(),
                self.max_failures
            );
            return Ok(true);
        }
        Ok(false)
    }

    /// A correct password: the count is cleared and the address becomes familiar.
    pub fn record_success(
        &self,
        conn: &mut DbConnection,
        key: &LoginKey,
        user_id: &str,
        address: &str,
        now: NaiveDateTime,
    ) -> ApiResult<()> {
        if !self.enabled {
            return Ok(());
        }
        if LoginFailures::clear(conn, key.as_str())? > 0 {
            log::info!(
                "lockout: failed password checks of {} cleared by a successful one from {address}",
                key.describe()
            );
        }
        LoginSource {
            user_id: user_id.to_owned(),
            address: address.to_owned(),
            last_success_at: now,
        }
        .record(conn)?;
        Ok(())
    }

    /// For `flush-expired`: counts nobody has touched for longer than any lock lasts, and
    /// addresses that are no longer familiar.
    pub fn flush(&self, conn: &mut DbConnection, now: NaiveDateTime) -> ApiResult<usize> {
        let quiet = now - self.max_lock.max(self.window);
        let counts = LoginFailures::delete_quiet_since(conn, quiet)?;
        let sources = LoginSource::delete_older_than(conn, now - self.familiar_for)?;
        Ok(counts + sources)
    }
}
