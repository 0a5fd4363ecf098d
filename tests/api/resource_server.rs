//! `examples/resource-server`, a service protected by authd-verify, against a live authd: it
//! accepts authd's access tokens and nothing else, answers refusals like authd, picks up a
//! rotated key by its unknown kid, and refuses a logged-out session within its feed's poll.
//!
//! The example is built by `scripts/test` (`cargo build -p authd-verify --features
//! actix,remote --example resource-server`); without it this test says so and passes, unless
//! `AUTHD_TEST_REQUIRE_EXAMPLES=1` (as in CI).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use authd::config::ServiceSettings;
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::json;

use crate::helpers::{
    expect_error, expect_status, header_of, spawn_app_with, unique_email, Backend, TestApp,
};

const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/target/debug/examples/resource-server"
);

struct ResourceServer {
    child: Child,
    url: String,
}

impl Drop for ResourceServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_resource_server(app: &TestApp, service_secret: &str) -> Option<ResourceServer> {
    if !std::path::Path::new(EXAMPLE).exists() {
        let missing = format!("{EXAMPLE} is not built (scripts/test builds it)");
        if std::env::var("AUTHD_TEST_REQUIRE_EXAMPLES").as_deref() == Ok("1") {
            panic!("AUTHD_TEST_REQUIRE_EXAMPLES=1 but {missing}");
        }
        eprintln!("SKIPPING the resource-server test: {missing}");
        return None;
    }
    let mut child = Command::new(EXAMPLE)
        .env("AUTHD_URL", &app.address)
        .env("AUTHD_ISSUER", &app.settings.jwt.issuer)
        .env("AUTHD_SERVICE_SECRET", service_secret)
        .env("REVOCATION_POLL_SECS", "2")
        .env("JWKS_REFETCH_SECS", "1")
        .env("PORT", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the example starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .rsplit(' ')
        .next()
        .filter(|u| u.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    Some(ResourceServer { child, url })
}

async fn get(server: &ResourceServer, path: &str, token: Option<&str>) -> reqwest::Response {
    let request = reqwest::Client::new().get(format!("{}{path}", server.url));
    match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    }
    .send()
    .await
    .unwrap()
}

#[tokio::test]
async fn a_resource_server_protected_by_authd_verify() {
    let (secret, hash) = authd::auth::services::new_token();
    let Some(mut app) = spawn_app_with(Backend::Sqlite, |s| {
        s.services
            .insert("orders".into(), ServiceSettings { token_sha256: hash });
    })
    .await
    else {
        return;
    };
    let Some(server) = start_resource_server(&app, secret.expose_secret()) else {
        return;
    };
    let ann = app.register(&unique_email()).await;
    let orders = expect_status(
        get(&server, "/api/orders", Some(&ann.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(orders["userId"], ann.id.as_str());

    // Refusals in authd's shape.
    let none = get(&server, "/api/orders", None).await;
    assert_eq!(
        none.headers()["www-authenticate"],
        r#"Bearer realm="authd""#
    );
    expect_error(none, StatusCode::UNAUTHORIZED, "not_authenticated").await;
    let refresh = get(&server, "/api/orders", Some(&ann.refresh)).await;
    expect_error(refresh, StatusCode::UNAUTHORIZED, "token_invalid").await;
    let mut tampered = ann.access.clone();
    tampered.insert(tampered.len() - 3, 'A');
    expect_error(
        get(&server, "/api/orders", Some(&tampered)).await,
        StatusCode::UNAUTHORIZED,
        "token_invalid",
    )
    .await;
    for (path, why) in [
        ("/api/admin/report", "staff only"),
        ("/api/orders/export", "orders:export"),
    ] {
        let refused = get(&server, path, Some(&ann.access)).await;
        let body = expect_error(refused, StatusCode::FORBIDDEN, "forbidden").await;
        assert!(
            body["details"]["reason"].as_str().unwrap().contains(why),
            "{body}"
        );
    }

    // A new signing key: its first token has a kid the server has not seen; it refetches.
    let old_kid = crate::keys::rotate_signing_key(&mut app, &ann.access);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (rotated, _) = app.login_pair(&ann.email).await;
    assert_ne!(header_of(&rotated)["kid"], old_kid.as_str());
    expect_status(
        get(&server, "/api/orders", Some(&rotated)).await,
        StatusCode::OK,
    )
    .await;
    expect_status(
        get(&server, "/api/orders", Some(&ann.access)).await,
        StatusCode::OK,
    )
    .await;

    // Logout: refused at the resource server within the 2 s poll, long before the token's
    // 15 minutes are up.
    let logged_out = app
        .post("/api/auth/logout", &json!({ "refresh": ann.refresh }))
        .await;
    assert_eq!(logged_out.status(), StatusCode::NO_CONTENT);
    let start = Instant::now();
    let refused = loop {
        let response = get(&server, "/api/orders", Some(&ann.access)).await;
        if response.status() == StatusCode::UNAUTHORIZED {
            break response;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "still accepted after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let latency = start.elapsed();
    eprintln!("revocation latency (logout to the first 401, poll 2 s): {latency:?}");
    assert!(latency <= Duration::from_secs(3), "{latency:?}");
    expect_error(refused, StatusCode::UNAUTHORIZED, "token_revoked").await;
    // The rotated session was not logged out.
    expect_status(
        get(&server, "/api/orders", Some(&rotated)).await,
        StatusCode::OK,
    )
    .await;

    // authd down: the cached keys keep verifying, and the feed's entries stay.
    drop(app);
    expect_status(
        get(&server, "/api/orders", Some(&rotated)).await,
        StatusCode::OK,
    )
    .await;
    expect_error(
        get(&server, "/api/orders", Some(&ann.access)).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
}
