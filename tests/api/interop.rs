//! Interoperability: the whole sign-in against a real, certified OpenID Connect provider
//! (the `oidc-provider` npm package) started on loopback. Skipped with a message where Node.js
//! or the package is missing; AUTHD_TEST_REQUIRE_INTEROP=1 (set by CI) makes that a failure.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{expect_status, spawn_app_with, unique_email, Backend};
use crate::standin::{CLIENT_ID, CLIENT_SECRET};

const REDIRECT_URI: &str = "http://localhost:5173/auth/callback";

struct NodeProvider {
    child: Child,
    issuer: String,
}

impl Drop for NodeProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_provider(email: &str) -> Option<NodeProvider> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
    let missing = if Command::new("node").arg("--version").output().is_err() {
        Some("Node.js is not installed")
    } else if !dir.join("node_modules/oidc-provider").exists() {
        Some("tests/interop has no node_modules (run: npm ci --prefix tests/interop)")
    } else {
        None
    };
    if let Some(reason) = missing {
        if std::env::var("AUTHD_TEST_REQUIRE_INTEROP").as_deref() == Ok("1") {
            panic!("AUTHD_TEST_REQUIRE_INTEROP=1 but {reason}");
        }
        eprintln!("SKIPPING the OpenID Connect interoperability test: {reason}");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new("node")
        .current_dir(&dir)
        .args([
            "provider.mjs",
            &port.to_string(),
            CLIENT_ID,
            CLIENT_SECRET,
            REDIRECT_URI,
            email,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("listening"),
        "the provider did not start: {line:?}"
    );
    // Keep reading, or the provider dies of EPIPE at its next line of output.
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            eprintln!("oidc-provider: {line}");
        }
    });
    Some(NodeProvider {
        child,
        issuer: format!("http://127.0.0.1:{port}"),
    })
}

/// Follows the provider's redirects as a browser would, keeping its cookies, until it sends
/// the person back to the SPA's callback page; returns that URL.
async fn follow_to_callback(start: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut jar: BTreeMap<String, String> = BTreeMap::new();
    let mut url = openidconnect::url::Url::parse(start).unwrap();
    for _ in 0..10 {
        let cookie = jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let response = client
            .get(url.clone())
            .header("Cookie", cookie)
            .send()
            .await
            .unwrap();
        for set in response.headers().get_all("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap();
            if let Some((name, value)) = pair.split_once('=') {
                jar.insert(name.to_owned(), value.to_owned());
            }
        }
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        let Some(location) = location.filter(|_| status.is_redirection()) else {
            panic!(
                "the provider answered {status} at {url}: {}",
                response.text().await.unwrap_or_default()
            );
        };
        if location.starts_with(REDIRECT_URI) {
            return location;
        }
        url = url.join(&location).unwrap();
    }
    panic!("too many redirects");
}

#[tokio::test]
async fn sign_in_through_a_certified_openid_provider() {
    let email = unique_email();
    let Some(provider) = start_provider(&email) else {
        return;
    };
    let mut settings = crate::oidc::provider("oidc", &provider.issuer, "Certified");
    settings.client_id = CLIENT_ID.into();
    let Some(app) = spawn_app_with(Backend::Sqlite, |s| {
        s.oidc.providers.insert("certified".into(), settings);
    })
    .await
    else {
        return;
    };
    let authorize = app
        .client
        .get(app.url("/api/auth/oidc/certified/authorize"))
        .query(&[
            ("redirect_uri", REDIRECT_URI),
            ("code_challenge", crate::oidc::BROWSER_CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(authorize.status(), StatusCode::FOUND);
    let start = authorize.headers()["location"].to_str().unwrap().to_owned();
    assert!(start.starts_with(&provider.issuer), "{start}");

    let back = follow_to_callback(&start).await;
    let params: BTreeMap<String, String> = openidconnect::url::Url::parse(&back)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert!(params.contains_key("code"), "no code in {back}");
    let callback = app
        .post(
            "/api/auth/oidc/certified/callback",
            &json!({
                "code": params["code"],
                "state": params["state"],
                "code_verifier": crate::oidc::BROWSER_VERIFIER,
            }),
        )
        .await;
    let body = expect_status(callback, StatusCode::OK).await;
    assert_eq!(body["isNewUser"], true);
    let me = expect_status(
        app.get_with_bearer("/api/auth/me", body["access"].as_str().unwrap())
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["email"], email.as_str());
    assert_eq!(me["firstName"], "Ada");
    assert_eq!(me["emailVerified"], true);
}
