//! Queues for scarce things (hashing permits, database connections, SQLite's writer's turn):
//! how many wait now, how long each waited, and how many gave up. One family of each, with the
//! queue's name as a label.

use std::future::Future;
use std::time::{Duration, Instant};

use prometheus::core::Collector;
use prometheus::{Histogram, IntCounter, IntGauge};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts};

pub(super) struct QueueFamilies {
    waiting: IntGaugeVec,
    wait: HistogramVec,
    timeouts: IntCounterVec,
}

impl QueueFamilies {
    pub(super) fn queue(&self, name: &str) -> QueueMetrics {
        QueueMetrics {
            waiting: self.waiting.with_label_values(&[name]),
            wait: self.wait.with_label_values(&[name]),
            timeouts: self.timeouts.with_label_values(&[name]),
        }
    }

    pub(super) fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.waiting.clone()),
            Box::new(self.wait.clone()),
            Box::new(self.timeouts.clone()),
        ]
    }
}

/// One queue's handles.
#[derive(Clone)]
pub struct QueueMetrics {
    waiting: IntGauge,
    wait: Histogram,
    timeouts: IntCounter,
}

impl QueueMetrics {
    pub(super) fn families(prefix: &str, what: &str, buckets: &[f64]) -> QueueFamilies {
        let labels = &["queue"];
        QueueFamilies {
            waiting: IntGaugeVec::new(
                Opts::new(
                    format!("{prefix}_waiting"),
                    format!("Callers waiting in {what}."),
                ),
                labels,
            )
            .expect("valid metric"),
            wait: HistogramVec::new(
                HistogramOpts::new(
                    format!("{prefix}_wait_seconds"),
                    format!("How long each caller waited in {what} (0 when it did not)."),
                )
                .buckets(buckets.to_vec()),
                labels,
            )
            .expect("valid metric"),
            timeouts: IntCounterVec::new(
                Opts::new(
                    format!("{prefix}_timeouts_total"),
                    format!("Callers that gave up waiting in {what}."),
                ),
                labels,
            )
            .expect("valid metric"),
        }
    }

    /// Handles registered nowhere, for what runs without a server (the command line).
    pub fn unregistered() -> Self {
        QueueMetrics::families("unregistered", "nothing", &[1.0]).queue("none")
    }

    /// A caller that got in at once: a wait of 0, without reading the clock.
    pub fn served_at_once(&self) {
        self.wait.observe(0.0);
    }

    /// Waits for `served` for at most `limit`, counted as waiting meanwhile; `None` when the
    /// limit passed first. A caller that stops waiting (its request was dropped) leaves the
    /// count of those waiting but is not recorded as served or timed out.
    pub async fn wait<T>(&self, limit: Duration, served: impl Future<Output = T>) -> Option<T> {
        let _waiting = Waiting::enter(&self.waiting);
        let since = Instant::now();
        let outcome = tokio::time::timeout(limit, served).await.ok();
        self.wait.observe(since.elapsed().as_secs_f64());
        if outcome.is_none() {
            self.timeouts.inc();
        }
        outcome
    }
}

/// One more waiting, until dropped.
struct Waiting<'a>(&'a IntGauge);

impl<'a> Waiting<'a> {
    fn enter(gauge: &'a IntGauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}
