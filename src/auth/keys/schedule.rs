//! The timetable of a key, as plain arithmetic on Unix seconds; time is passed in.
//!
//! A database key is published from its creation and signs from `activates_at` until
//! `retires_at`, the next key's activation. After that it stays in the JWKS until the last
//! access token it signed has expired, and authd itself keeps it for its own refresh tokens
//! until those have expired too. Both margins add the leeway and one reload interval: a
//! replica that has not reloaded yet may sign with the old key for that long.

use crate::config::JwtSettings;

/// Seconds after retirement that a key stays published, and that it keeps verifying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    pub published_after_retirement: i64,
    pub verifying_after_retirement: i64,
}

impl Lifetimes {
    pub fn from_settings(jwt: &JwtSettings, reload_secs: u64) -> Self {
        let margin = jwt.leeway_secs.saturating_add(reload_secs);
        let secs = |ttl: u64| i64::try_from(ttl.saturating_add(margin)).unwrap_or(i64::MAX / 4);
        Self {
            published_after_retirement: secs(jwt.access_ttl_secs),
            verifying_after_retirement: secs(jwt.access_ttl_secs.max(jwt.refresh_ttl_secs)),
        }
    }
}

/// How often a replica reads the keys again: `jwt.key_reload_secs`, but at least three times
/// within the pre-publish window, so every replica knows a key well before it signs.
pub fn reload_interval_secs(jwt: &JwtSettings) -> u64 {
    jwt.key_reload_secs
        .min((jwt.key_prepublish_secs() / 3).max(1))
        .max(1)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published, not signing yet.
    Pending,
    Signing,
    /// No longer signs; published while access tokens it signed may live.
    Verifying,
    /// Unpublished; authd still accepts the refresh tokens it signed.
    Retired,
    /// Past every token it signed; ignored.
    Expired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Pending => "pending",
            KeyState::Signing => "signing",
            KeyState::Verifying => "verifying",
            KeyState::Retired => "retired",
            KeyState::Expired => "expired",
        }
    }

    pub fn published(self) -> bool {
        matches!(
            self,
            KeyState::Pending | KeyState::Signing | KeyState::Verifying
        )
    }

    /// Whether authd accepts tokens signed by the key (a pending key signs nothing yet, but
    /// knowing it early costs nothing and spares a reload at its first token).
    pub fn verifies(self) -> bool {
        self != KeyState::Expired
    }
}

/// When a key signs: from `activates_at` (`None`: always has) until `retires_at` (`None`: no
/// successor yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub activates_at: Option<i64>,
    pub retires_at: Option<i64>,
}

impl Schedule {
    pub fn state(&self, now: i64, lifetimes: Lifetimes) -> KeyState {
        if self.activates_at.is_some_and(|at| now < at) {
            return KeyState::Pending;
        }
        match self.retires_at {
            None => KeyState::Signing,
            Some(at) if now < at => KeyState::Signing,
            Some(at) if now < at.saturating_add(lifetimes.published_after_retirement) => {
                KeyState::Verifying
            }
            Some(at) if now < at.saturating_add(lifetimes.verifying_after_retirement) => {
                KeyState::Retired
            }
            Some(_) => KeyState::Expired,
        }
    }

    /// When the key leaves the JWKS, if it has a successor.
    pub fn unpublished_at(&self, lifetimes: Lifetimes) -> Option<i64> {
        self.retires_at
            .map(|at| at.saturating_add(lifetimes.published_after_retirement))
    }
}

/// Whether automatic rotation is due: never while a key is waiting to sign; at once when no
/// database key signs yet (turning rotation on hands the signing over to the database); else
/// when the newest key has signed for `every_secs`.
pub fn rotation_due(stored: &[Schedule], now: i64, every_secs: i64) -> bool {
    if stored
        .iter()
        .any(|s| s.activates_at.is_some_and(|at| now < at))
    {
        return false;
    }
    match stored.iter().filter_map(|s| s.activates_at).max() {
        None => true,
        Some(newest) => now.saturating_sub(newest) >= every_secs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIFETIMES: Lifetimes = Lifetimes {
        published_after_retirement: 100,
        verifying_after_retirement: 1000,
    };

    #[test]
    fn a_key_moves_through_its_states_at_its_times() {
        let key = Schedule {
            activates_at: Some(10),
            retires_at: Some(50),
        };
        let at = |now| key.state(now, LIFETIMES);
        assert_eq!(at(9), KeyState::Pending);
        assert_eq!(at(10), KeyState::Signing);
        assert_eq!(at(49), KeyState::Signing);
        assert_eq!(at(50), KeyState::Verifying);
        assert_eq!(at(149), KeyState::Verifying);
        assert_eq!(at(150), KeyState::Retired);
        assert_eq!(at(1049), KeyState::Retired);
        assert_eq!(at(1050), KeyState::Expired);
        assert!(at(9).published() && at(9).verifies());
        assert!(!at(150).published() && at(150).verifies());
        assert!(!at(1050).verifies());
        assert_eq!(key.unpublished_at(LIFETIMES), Some(150));
        let configured = Schedule {
            activates_at: None,
            retires_at: None,
        };
        assert_eq!(configured.state(i64::MIN, LIFETIMES), KeyState::Signing);
    }

    #[test]
    fn rotation_waits_for_a_pending_key_and_for_the_period() {
        assert!(rotation_due(&[], 0, 100), "no database key: due at once");
        let signing = Schedule {
            activates_at: Some(10),
            retires_at: None,
        };
        assert!(!rotation_due(&[signing], 109, 100));
        assert!(rotation_due(&[signing], 110, 100));
        let pending = Schedule {
            activates_at: Some(200),
            retires_at: None,
        };
        assert!(!rotation_due(&[signing, pending], 150, 100));
        assert!(!rotation_due(&[signing, pending], 250, 100));
        assert!(rotation_due(&[signing, pending], 300, 100));
    }
}
