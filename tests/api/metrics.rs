//! `/metrics`, read by a real Prometheus parser: Python's `prometheus_client.parser`, run from
//! `AUTHD_TEST_PYTHON`, `AUTHD_TEST_SMTP_PYTHON` or target/smtp-venv (which scripts/test and
//! .ci/run set up). Skipped with a message without it, unless
//! `AUTHD_TEST_REQUIRE_PROMETHEUS=1` (as in CI).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{
    expect_error, expect_status, spawn_app_with, unique_email, Backend, TestApp, PASSWORD,
};

/// Prints each sample as JSON: the family's name and type, the sample's name, labels, value.
const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        samples.append({"family": family.name, "type": family.type, "name": sample.name,
                        "labels": sample.labels, "value": sample.value})
print(json.dumps(samples))
"#;

fn python() -> Option<PathBuf> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let candidates = [
                std::env::var_os("AUTHD_TEST_PYTHON").map(PathBuf::from),
                std::env::var_os("AUTHD_TEST_SMTP_PYTHON").map(PathBuf::from),
                Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("target/smtp-venv/bin/python")),
            ];
            let found = candidates.into_iter().flatten().find(|python| {
                Command::new(python)
                    .args(["-c", "import prometheus_client.parser"])
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            });
            if found.is_none() {
                if std::env::var("AUTHD_TEST_REQUIRE_PROMETHEUS").as_deref() == Ok("1") {
                    panic!("AUTHD_TEST_REQUIRE_PROMETHEUS=1 but no Python with prometheus_client");
                }
                eprintln!(
                    "SKIPPING metrics tests: no Python with prometheus_client (scripts/test \
                     installs it into target/smtp-venv)"
                );
            }
            found
        })
        .clone()
}

/// Every sample of a scrape, as the parser read it; the parser fails on malformed text.
struct Scrape(Vec<Value>);

impl Scrape {
    fn parse(python: &Path, text: &str) -> Self {
        let mut child = Command::new(python)
            .args(["-c", PARSE])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "prometheus_client refused the scrape: {}\n{text}",
            String::from_utf8_lossy(&output.stderr)
        );
        Self(serde_json::from_slice(&output.stdout).unwrap())
    }

    /// The value of the sample with this name and these labels (others may be present).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples(name, labels)
            .next()
            .map(|s| s["value"].as_f64().unwrap())
    }

    fn count(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels).unwrap_or(0.0)
    }

    fn samples<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.0.iter().filter(move |sample| {
            sample["name"] == name
                && labels
                    .iter()
                    .all(|(key, value)| sample["labels"][key] == *value)
        })
    }

    fn type_of(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|sample| sample["name"] == name)
            .and_then(|sample| sample["type"].as_str())
    }
}

async fn scrape_at(app: &TestApp, base: &str, python: &Path) -> Scrape {
    let response = app
        .client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    Scrape::parse(python, &text)
}

async fn login(app: &TestApp, email: &str, password: &str) -> StatusCode {
    app.login(email, password).await.status()
}

async fn events_are_counted(backend: Backend) {
    let Some(python) = python() else { return };
    let Some(app) = spawn_app_with(backend, |s| {
        s.rate_limit.login_per_ip = authd::config::parse_quota("6/1h").unwrap();
        s.lockout.max_failures = 2;
        s.jwt.refresh_reuse_grace_secs = 0;
    })
    .await
    else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let ghost = unique_email();
    // Six logins in the quota: two right, one wrong, and three for an unknown account, whose
    // second failure locks it. The seventh is over the quota.
    assert_eq!(login(&app, &account.email, PASSWORD).await, StatusCode::OK);
    assert_eq!(
        login(&app, &account.email, "wrong-Password-1").await,
        StatusCode::UNAUTHORIZED
    );
    for _ in 0..2 {
        assert_eq!(
            login(&app, &ghost, PASSWORD).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login(&app, &ghost, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let body = expect_status(app.login(&account.email, PASSWORD).await, StatusCode::OK).await;
    let refresh = body["refresh"].as_str().unwrap().to_owned();
    expect_error(
        app.login(&account.email, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    // One refresh, then the same token again: reuse.
    expect_status(app.refresh(&refresh).await, StatusCode::OK).await;
    expect_error(
        app.refresh(&refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_reused",
    )
    .await;

    let scrape = scrape_at(&app, &app.address, &python).await;
    let logins = |result| scrape.count("authd_logins_total", &[("result", result)]);
    assert_eq!(logins("success"), 2.0);
    assert_eq!(logins("invalid_credentials"), 3.0);
    assert_eq!(logins("locked"), 1.0);
    assert_eq!(logins("rate_limited"), 1.0);
    assert_eq!(scrape.type_of("authd_logins_total"), Some("counter"));
    let refreshes = |result| scrape.count("authd_refreshes_total", &[("result", result)]);
    assert_eq!(
        (refreshes("success"), refreshes("token_reused")),
        (1.0, 1.0)
    );
    assert_eq!(scrape.count("authd_refresh_token_reuse_total", &[]), 1.0);
    let refused = scrape.count("authd_rate_limited_total", &[("rule", "login_per_ip")]);
    assert_eq!(refused, 1.0);

    // Hashes: the registration and the six logins that got past the limit and the lock.
    let hashed = scrape.count(
        "authd_queue_wait_seconds_count",
        &[("queue", "password_hash")],
    );
    assert!(hashed >= 6.0, "{hashed}");
    assert!(scrape
        .value("authd_queue_waiting", &[("queue", "db_connection")])
        .is_some());
    let max = app.settings.database.max_connections;
    assert_eq!(
        scrape.value("authd_db_pool_max_connections", &[]),
        Some(f64::from(max))
    );
    let open: f64 = ["idle", "in_use"]
        .into_iter()
        .map(|state| scrape.count("authd_db_pool_connections", &[("state", state)]))
        .sum();
    assert!((1.0..=f64::from(max)).contains(&open), "{open}");
    // The local profile sends email, to a folder: the outbox is counted.
    assert!(scrape
        .value("authd_email_outbox_messages", &[("state", "pending")])
        .is_some());
    let age = scrape
        .samples("authd_signing_key_age_seconds", &[("source", "config")])
        .next()
        .expect("the signing key's age");
    assert!(age["value"].as_f64().unwrap() >= 0.0, "{age}");
    #[cfg(target_os = "linux")]
    for name in [
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(scrape.value(name, &[]).is_some(), "no {name}");
    }
}

/// Requests by route pattern, never by path: an id in the path, an alias with a trailing
/// slash and an unknown path each count under their pattern (or `unmatched`).
async fn requests_are_counted_by_route_pattern(backend: Backend) {
    let Some(python) = python() else { return };
    let Some(app) = spawn_app_with(backend, |_| {}).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    for path in ["/api/auth/me", "/api/auth/user/"] {
        expect_status(
            app.get_with_bearer(path, &account.access).await,
            StatusCode::OK,
        )
        .await;
    }
    let session_id = "0f0e0d0c-secret-looking-id";
    let ended = app
        .client
        .delete(app.url(&format!("/api/auth/sessions/{session_id}")))
        .bearer_auth(&account.access)
        .send()
        .await
        .unwrap();
    let ended_status = ended.status();
    let made_up = "/api/auth/no-such-route-4711";
    assert_eq!(
        app.client
            .get(app.url(made_up))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    let text = response.text().await.unwrap();
    for raw in [session_id, made_up, "/api/auth/user/"] {
        assert!(!text.contains(raw), "{raw} is in the metrics");
    }
    let scrape = Scrape::parse(&python, &text);

    let requests = |route, method, status| {
        let labels = [("route", route), ("method", method), ("status", status)];
        scrape.count("authd_http_requests_total", &labels)
    };
    assert_eq!(requests("/api/auth/me", "GET", "200"), 1.0);
    assert_eq!(requests("/api/auth/user", "GET", "200"), 1.0);
    assert_eq!(requests("/api/auth/register", "POST", "201"), 1.0);
    assert_eq!(
        requests("/api/auth/sessions/{id}", "DELETE", ended_status.as_str()),
        1.0
    );
    assert_eq!(requests("unmatched", "GET", "404"), 1.0);

    // The histogram of the same route and status: cumulative buckets up to +Inf, whose count
    // is the request count.
    let labels = [
        ("route", "/api/auth/me"),
        ("method", "GET"),
        ("status", "200"),
    ];
    assert_eq!(
        scrape.type_of("authd_http_request_duration_seconds_bucket"),
        Some("histogram")
    );
    let buckets: Vec<(f64, f64)> = scrape
        .samples("authd_http_request_duration_seconds_bucket", &labels)
        .map(|b| {
            let le = b["labels"]["le"].as_str().unwrap();
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            (le, b["value"].as_f64().unwrap())
        })
        .collect();
    assert!(buckets.len() > 5, "{buckets:?}");
    assert!(buckets
        .windows(2)
        .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
    assert_eq!(buckets.last(), Some(&(f64::INFINITY, 1.0)));
    assert_eq!(
        scrape.value("authd_http_request_duration_seconds_count", &labels),
        Some(1.0)
    );
    let seconds = scrape
        .value("authd_http_request_duration_seconds_sum", &labels)
        .unwrap();
    assert!(seconds > 0.0 && seconds < 10.0, "{seconds}");
}

crate::on_both_backends!(events_are_counted, requests_are_counted_by_route_pattern);

/// With `metrics.port`, `/metrics` is served there and nowhere else, and nothing else is
/// served there.
#[tokio::test]
async fn a_metrics_port_of_their_own_keeps_them_off_the_main_listener() {
    let Some(python) = python() else { return };
    let port = crate::process::free_port();
    let app = spawn_app_with(Backend::Sqlite, |s| s.metrics.port = port)
        .await
        .unwrap();
    let metrics_base = format!("http://127.0.0.1:{port}");
    for path in ["/metrics", "/metrics/", "//metrics"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    for path in ["/healthz", "/api/auth/me", "/"] {
        let response = app
            .client
            .get(format!("{metrics_base}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    expect_status(app.get_ok_response("/healthz").await, StatusCode::OK).await;
    let scrape = scrape_at(&app, &metrics_base, &python).await;
    let labels = [("route", "/healthz"), ("method", "GET"), ("status", "200")];
    assert_eq!(scrape.count("authd_http_requests_total", &labels), 1.0);
    // Refused before routing, but counted under the pattern the path matches.
    let refused = [("route", "/metrics"), ("method", "GET"), ("status", "404")];
    assert_eq!(scrape.count("authd_http_requests_total", &refused), 3.0);
}

#[tokio::test]
async fn metrics_can_be_turned_off() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.metrics.enabled = false)
        .await
        .unwrap();
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
}
