//! The log of the real binary: `log.format = "json"` writes one JSON object per line, the access
//! line carries the request's fields, and every response names its request id, the client's
//! when it is sane and a new UUID otherwise. Secrets in a query string or a body stay out.

use std::time::{Duration, Instant};

use reqwest::header::HeaderValue;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{Backend, TestDatabase};
use crate::process::RunningServer;

const SECRET_QUERY: &str = "Secret-Query-Value-93";
const SECRET_PASSWORD: &str = "Secret-Password-Value-57";

/// A GET with this `X-Request-Id` (raw bytes, or none); returns the status and the echoed id.
async fn get(server: &RunningServer, path: &str, id: Option<&[u8]>) -> (StatusCode, String) {
    let mut request = reqwest::Client::new().get(format!("{}{path}", server.base));
    if let Some(id) = id {
        request = request.header("X-Request-Id", HeaderValue::from_bytes(id).unwrap());
    }
    let response = request.send().await.unwrap();
    let echoed = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    (response.status(), echoed)
}

/// The log once it has a line containing `needle` (the access line of the last request).
fn log_with(server: &RunningServer, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = server.log_text();
        if log.contains(needle) {
            return log;
        }
        assert!(Instant::now() < deadline, "{needle} never logged:\n{log}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn is_new_uuid(id: &str) -> bool {
    uuid::Uuid::parse_str(id).is_ok_and(|uuid| uuid.get_version_num() == 4)
}

async fn wait_ready(server: &RunningServer) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(server, "/readyz", None).await.0 != StatusCode::OK {
        assert!(Instant::now() < deadline, "{}", server.log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn json_lines_carry_the_access_fields_and_request_ids() {
    let db = TestDatabase::create(Backend::Sqlite).unwrap();
    let server = RunningServer::start(&db, &[("AUTHD__LOG__FORMAT", "json"), ("RUST_LOG", "info")]);
    wait_ready(&server).await;

    let (status, taken) = get(&server, "/healthz", Some(b"trace-abc-123")).await;
    assert_eq!((status, taken.as_str()), (StatusCode::OK, "trace-abc-123"));
    let (_, generated) = get(&server, "/healthz", None).await;
    assert!(is_new_uuid(&generated), "{generated}");
    let too_long = vec![b'x'; 129];
    let longest = vec![b'y'; 128];
    let path = format!("/healthz?token={SECRET_QUERY}");
    let mut replaced = Vec::new();
    for bad in [&b"tab\tinside"[..], b"caf\xe9", &too_long] {
        let (_, id) = get(&server, &path, Some(bad)).await;
        assert!(is_new_uuid(&id), "{id} was kept");
        replaced.push(id);
    }
    let (_, kept) = get(&server, "/healthz", Some(&longest)).await;
    assert_eq!(kept.as_bytes(), &longest[..]);
    let login = reqwest::Client::new()
        .post(format!("{}/api/auth/login/", server.base))
        .header("X-Request-Id", "login-1")
        .json(&json!({ "email": "nobody@example.com", "password": SECRET_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::UNAUTHORIZED);
    let (status, unmatched) = get(&server, "/api/auth/nothing-here", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let log = log_with(&server, &unmatched);
    assert!(
        !log.contains(SECRET_QUERY) && !log.contains(SECRET_PASSWORD),
        "{log}"
    );
    let lines: Vec<Value> = log
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    for line in &lines {
        for field in ["time", "level", "target", "message"] {
            assert!(line[field].is_string(), "no {field} in {line}");
        }
    }
    assert!(lines
        .iter()
        .any(|l| l["target"] == "authd::startup" && l["level"] == "INFO"));
    let access = |id: &str| -> &Value {
        lines
            .iter()
            .find(|l| l["target"] == "authd::access" && l["request_id"] == id)
            .unwrap_or_else(|| panic!("no access line with request id {id}:\n{log}"))
    };
    let first = access("trace-abc-123");
    for (field, value) in [
        ("method", json!("GET")),
        ("path", json!("/healthz")),
        ("route", json!("/healthz")),
        ("status", json!(200)),
        ("client", json!("127.0.0.1")),
    ] {
        assert_eq!(first[field], value, "{field} in {first}");
    }
    let latency = first["latency_ms"].as_f64().expect("latency_ms, a number");
    assert!((0.0..10_000.0).contains(&latency), "{first}");
    assert!(first["message"].as_str().unwrap().contains("trace-abc-123"));
    assert_eq!(access(&generated)["status"], 200);
    for id in &replaced {
        assert_eq!(
            access(id)["path"],
            "/healthz",
            "the query string is not logged"
        );
    }
    let login = access("login-1");
    assert_eq!(
        (&login["route"], &login["status"]),
        (&json!("/api/auth/login"), &json!(401))
    );
    assert_eq!(access(&unmatched)["route"], "unmatched");
    assert!(access(&String::from_utf8(longest).unwrap())["latency_ms"].is_number());
}

#[tokio::test]
async fn text_lines_carry_the_request_id_and_cors_exposes_it() {
    let db = TestDatabase::create(Backend::Sqlite).unwrap();
    let server = RunningServer::start(&db, &[("RUST_LOG", "info")]);
    wait_ready(&server).await;
    let response = reqwest::Client::new()
        .get(format!("{}/healthz", server.base))
        .header("Origin", "http://localhost:5173")
        .header("X-Request-Id", "text-trace-42")
        .send()
        .await
        .unwrap();
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("x-request-id"), "{exposed}");
    let log = log_with(&server, "text-trace-42");
    let line = log
        .lines()
        .find(|line| line.contains("text-trace-42"))
        .unwrap();
    assert!(
        line.starts_with('[') && line.contains("authd::access"),
        "{line}"
    );
    assert!(line.contains("\"GET /healthz\" 200"), "{line}");
}
