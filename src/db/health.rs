//! A circuit breaker for the database: once connecting has failed, requests are answered
//! 503 at once instead of each waiting out the connect timeout, and one request per probe
//! interval tries again, briefly, until one gets through. Time is passed in.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// While the database is down, one request this often tries to reach it.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// How long that probe waits for a connection.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(1000);

#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// The database is up: wait for a connection as usual.
    Normal,
    /// It is down and this request is the probe: wait briefly.
    Probe,
    /// It is down: answer 503 now.
    Refuse,
}

#[derive(Default)]
pub struct DbHealth {
    /// Unix milliseconds of the first failure of the current outage; 0 while up.
    down_since_ms: AtomicI64,
    /// Unix milliseconds from which the next probe may go.
    next_probe_ms: AtomicI64,
}

impl DbHealth {
    pub fn admit(&self, now_ms: i64) -> Admission {
        if self.down_since_ms.load(Ordering::Relaxed) == 0 {
            return Admission::Normal;
        }
        let due = self.next_probe_ms.load(Ordering::Relaxed);
        let interval = i64::try_from(PROBE_INTERVAL.as_millis()).unwrap_or(1000);
        if now_ms >= due
            && self
                .next_probe_ms
                .compare_exchange(due, now_ms + interval, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            Admission::Probe
        } else {
            Admission::Refuse
        }
    }

    /// No connection could be had.
    pub fn failed(&self, now_ms: i64) {
        let interval = i64::try_from(PROBE_INTERVAL.as_millis()).unwrap_or(1000);
        if self
            .down_since_ms
            .compare_exchange(0, now_ms, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            self.next_probe_ms
                .store(now_ms + interval, Ordering::Relaxed);
            log::warn!("database unreachable: requests get 503 at once until it answers again");
        }
    }

    /// A connection was had.
    pub fn succeeded(&self) {
        // A load first: the usual case writes nothing to the shared cache line.
        if self.down_since_ms.load(Ordering::Relaxed) != 0
            && self.down_since_ms.swap(0, Ordering::AcqRel) != 0
        {
            log::info!("database reachable again");
        }
    }

    pub fn is_down(&self) -> bool {
        self.down_since_ms.load(Ordering::Relaxed) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_refuses_at_once_and_probes_once_per_interval() {
        let health = DbHealth::default();
        assert_eq!(health.admit(0), Admission::Normal);
        health.failed(10_000);
        assert!(health.is_down());
        assert_eq!(health.admit(10_001), Admission::Refuse);
        assert_eq!(health.admit(11_000), Admission::Probe);
        assert_eq!(
            health.admit(11_001),
            Admission::Refuse,
            "one probe at a time"
        );
        health.failed(11_500);
        assert_eq!(health.admit(12_000), Admission::Probe);
        health.succeeded();
        assert_eq!(health.admit(12_001), Admission::Normal);
    }
}
