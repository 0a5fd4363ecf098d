//! Prometheus metrics. Each server has a registry of its own, so that servers sharing a process
//! (the tests') count apart. Events are counted where they happen, through the handles here;
//! state (the pool, the outbox, the signing key) is read into the gauges when Prometheus
//! scrapes (`routes::metrics`). No HTTP types here: the HTTP side is in `routes::access`.

mod http;
mod queue;

pub use http::{HttpMetrics, RouteMetrics, UNMATCHED};
pub use queue::QueueMetrics;

use prometheus::core::Collector;
use prometheus::{
    Gauge, GaugeVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

/// Seconds, for the waits in queues: from "none" to the longest timeouts (5 s by default).
const WAIT_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

pub struct Metrics {
    registry: Registry,
    pub http: HttpMetrics,
    /// Password logins by result: `success`, `locked`, or the error code of the answer.
    pub logins: IntCounterVec,
    /// Refresh-token exchanges by result: `success` or the error code of the answer.
    pub refreshes: IntCounterVec,
    /// Rotated refresh tokens presented again after the grace period (their sessions ended).
    pub refresh_token_reuse: IntCounter,
    /// Requests refused by a rate limit, by rule (`login_per_ip`, ...).
    pub rate_limited: IntCounterVec,
    pub password_hash_queue: QueueMetrics,
    pub password_hashes_running: IntGauge,
    /// The queue for a database connection, and (SQLite) the one for the writer's turn.
    pub db_connection_queue: QueueMetrics,
    pub db_write_queue: QueueMetrics,
    /// Pool connections by state (`in_use`, `idle`), and the pool's size.
    pub db_pool_connections: IntGaugeVec,
    pub db_pool_max_connections: IntGauge,
    /// Undelivered email by state (`pending`, `failed`); absent while email is off.
    pub email_outbox_messages: IntGaugeVec,
    /// Seconds since the key signing now began to sign, labelled with its kid and source.
    pub signing_key_age: GaugeVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let add = |collector: Box<dyn Collector>| {
            registry
                .register(collector)
                .expect("every metric has a name of its own");
        };
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let vec = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            add(Box::new(vec.clone()));
            vec
        };
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            let vec = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
            add(Box::new(vec.clone()));
            vec
        };
        let gauge = |name: &str, help: &str| {
            let gauge = IntGauge::new(name, help).expect("valid metric");
            add(Box::new(gauge.clone()));
            gauge
        };
        let http = HttpMetrics::new();
        add(Box::new(http.requests.clone()));
        add(Box::new(http.duration.clone()));
        let queues = QueueMetrics::families(
            "authd_queue",
            "the queue for a scarce resource",
            WAIT_BUCKETS,
        );
        for collector in queues.collectors() {
            add(collector);
        }
        let refresh_token_reuse = IntCounter::new(
            "authd_refresh_token_reuse_total",
            "Rotated refresh tokens presented again after the grace period; each ended its session.",
        )
        .expect("valid metric");
        add(Box::new(refresh_token_reuse.clone()));
        let signing_key_age = GaugeVec::new(
            Opts::new(
                "authd_signing_key_age_seconds",
                "Seconds since the key signing tokens now began to sign (configured keys: since \
                 their file was written, or since authd started when not from a file).",
            ),
            &["kid", "source"],
        )
        .expect("valid metric");
        add(Box::new(signing_key_age.clone()));
        let build_info = Gauge::with_opts(
            Opts::new("authd_build_info", "Always 1; the version is a label.")
                .const_label("version", env!("CARGO_PKG_VERSION")),
        )
        .expect("valid metric");
        build_info.set(1.0);
        add(Box::new(build_info));
        #[cfg(target_os = "linux")]
        add(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ));
        Self {
            http,
            logins: counter_vec(
                "authd_logins_total",
                "Password logins by result: success, locked, or the error code answered.",
                &["result"],
            ),
            refreshes: counter_vec(
                "authd_refreshes_total",
                "Refresh-token exchanges by result: success, or the error code answered.",
                &["result"],
            ),
            refresh_token_reuse,
            rate_limited: counter_vec(
                "authd_rate_limited_total",
                "Requests refused by a rate limit, by rule.",
                &["rule"],
            ),
            password_hash_queue: queues.queue("password_hash"),
            password_hashes_running: gauge(
                "authd_password_hashes_running",
                "Password hashing permits in use (hashes and password-strength checks running).",
            ),
            db_connection_queue: queues.queue("db_connection"),
            db_write_queue: queues.queue("db_write_turn"),
            db_pool_connections: gauge_vec(
                "authd_db_pool_connections",
                "Open database connections of the pool, by state (in_use, idle).",
                &["state"],
            ),
            db_pool_max_connections: gauge(
                "authd_db_pool_max_connections",
                "The pool's size (database.max_connections).",
            ),
            email_outbox_messages: gauge_vec(
                "authd_email_outbox_messages",
                "Email not delivered yet, by state (pending, failed); read at each scrape.",
                &["state"],
            ),
            signing_key_age,
            registry,
        }
    }

    /// The text exposition format (version 0.0.4) of every metric.
    pub fn encode(&self) -> String {
        prometheus::TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|error| {
                log::error!("cannot encode the metrics: {error}");
                String::new()
            })
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
