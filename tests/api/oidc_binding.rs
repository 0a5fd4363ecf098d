//! Provider sign-in bound to the browser that started it, and links bound to the user who
//! started them: an attacker's `code` and `state` are worthless in a victim's browser (login
//! CSRF) and with a victim's bearer token (link CSRF).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{expect_error, expect_reason, expect_status, unique_email, Backend, TestApp};
use crate::oidc::{authorize_url_as, provider, state_of, BROWSER_VERIFIER, REDIRECT_URI};
use crate::standin::{Grant, StandIn};

/// Another browser's secret and its S256 challenge.
const ATTACKER_VERIFIER: &str = "attacker-browser-secret-0123456789abcdefghijkl";

fn challenge_of(verifier: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

async fn spawn(backend: Backend, allow_unbound: bool) -> Option<(TestApp, StandIn)> {
    let standin = StandIn::start();
    let app = crate::helpers::spawn_app_with(backend, |s| {
        s.oidc.allow_unbound_flows = allow_unbound;
        s.oidc
            .providers
            .insert("acme".into(), provider("oidc", &standin.base, "Acme"));
    })
    .await?;
    Some((app, standin))
}

async fn authorize(app: &TestApp, query: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .get(app.url("/api/auth/oidc/acme/authorize"))
        .query(query)
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap()
}

async fn callback(
    app: &TestApp,
    path: &str,
    body: serde_json::Value,
    bearer: Option<&str>,
) -> reqwest::Response {
    match bearer {
        Some(token) => app.post_with_bearer(path, token, &body).await,
        None => app.post(path, &body).await,
    }
}

async fn a_sign_in_finishes_only_in_the_browser_that_started_it(backend: Backend) {
    let Some((app, standin)) = spawn(backend, false).await else {
        return;
    };
    // The attacker starts a sign-in with their own browser's challenge.
    let attacker_challenge = challenge_of(ATTACKER_VERIFIER);
    let started = authorize(
        &app,
        &[
            ("redirect_uri", REDIRECT_URI),
            ("code_challenge", &attacker_challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    let url = expect_status(started, StatusCode::OK).await["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = standin.issue_code(&url, Grant::new("attacker", &unique_email()));
    // The victim's browser posts it with its own secret: refused, and the state is used up.
    let forced = callback(
        &app,
        "/api/auth/oidc/acme/callback",
        json!({ "code": code, "state": state_of(&url), "code_verifier": BROWSER_VERIFIER }),
        None,
    )
    .await;
    expect_reason(
        forced,
        StatusCode::BAD_REQUEST,
        "invalid_state",
        "code_verifier",
    )
    .await;
    let replay = callback(
        &app,
        "/api/auth/oidc/acme/callback",
        json!({ "code": code, "state": state_of(&url), "code_verifier": ATTACKER_VERIFIER }),
        None,
    )
    .await;
    expect_error(replay, StatusCode::BAD_REQUEST, "invalid_state").await;

    // No verifier at all is refused too.
    let url = authorize_url_as(&app, "acme", None).await;
    let code = standin.issue_code(&url, Grant::new("someone", &unique_email()));
    let bare = callback(
        &app,
        "/api/auth/oidc/acme/callback",
        json!({ "code": code, "state": state_of(&url) }),
        None,
    )
    .await;
    expect_reason(
        bare,
        StatusCode::BAD_REQUEST,
        "invalid_state",
        "code_verifier",
    )
    .await;

    // authorize wants an S256 challenge.
    for query in [
        vec![("redirect_uri", REDIRECT_URI)],
        vec![
            ("redirect_uri", REDIRECT_URI),
            ("code_challenge", attacker_challenge.as_str()),
            ("code_challenge_method", "plain"),
        ],
        vec![
            ("redirect_uri", REDIRECT_URI),
            ("code_challenge", "short"),
            ("code_challenge_method", "S256"),
        ],
    ] {
        let refused = authorize(&app, &query).await;
        let body = expect_error(refused, StatusCode::BAD_REQUEST, "validation_error").await;
        assert!(body["details"]["code_challenge"].is_array(), "{body}");
    }
}

async fn a_link_finishes_only_for_the_user_who_started_it(backend: Backend) {
    let Some((app, standin)) = spawn(backend, false).await else {
        return;
    };
    let attacker = app.register(&unique_email()).await;
    let victim = app.register(&unique_email()).await;
    // Authorize (as `starter`, or for a sign-in), the provider issues a code for `subject`,
    // and the code is posted to `path` (with `bearer`).
    let attempt = |starter: Option<String>,
                   subject: &'static str,
                   path: &'static str,
                   bearer: Option<String>| {
        let (app, standin) = (&app, &standin);
        async move {
            let url = authorize_url_as(app, "acme", starter.as_deref()).await;
            let code = standin.issue_code(&url, Grant::new(subject, &unique_email()));
            let body =
                json!({ "code": code, "state": state_of(&url), "code_verifier": BROWSER_VERIFIER });
            callback(app, path, body, bearer.as_deref()).await
        }
    };
    let (attacker_token, victim_token) =
        (Some(attacker.access.clone()), Some(victim.access.clone()));
    const LINK: &str = "/api/auth/oidc/acme/link";
    const SIGN_IN: &str = "/api/auth/oidc/acme/callback";
    let cases = [
        // Started by the attacker, posted with the victim's token.
        (
            attempt(
                attacker_token.clone(),
                "attacker-id",
                LINK,
                victim_token.clone(),
            )
            .await,
            "another user",
        ),
        // A sign-in flow (no bearer at authorize) cannot be used to link.
        (
            attempt(None, "attacker-id", LINK, victim_token.clone()).await,
            "bearer token",
        ),
        // A link flow cannot be used to sign in.
        (
            attempt(victim_token.clone(), "victim-id", SIGN_IN, None).await,
            "to link",
        ),
    ];
    for (refused, reason) in cases {
        expect_reason(refused, StatusCode::BAD_REQUEST, "invalid_state", reason).await;
    }
    // The victim's own link works.
    let linked = attempt(victim_token.clone(), "victim-id", LINK, victim_token).await;
    let body = expect_status(linked, StatusCode::OK).await;
    assert_eq!(body["user"]["id"], victim.id.as_str());
    // A bad bearer at authorize is refused, not silently ignored.
    let bad = app
        .client
        .get(app.url("/api/auth/oidc/acme/authorize"))
        .query(&crate::oidc::authorize_query())
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    expect_error(bad, StatusCode::UNAUTHORIZED, "token_invalid").await;
}

crate::on_both_backends!(
    a_sign_in_finishes_only_in_the_browser_that_started_it,
    a_link_finishes_only_for_the_user_who_started_it,
);

/// `oidc.allow_unbound_flows` keeps old SPAs working while they are updated.
#[tokio::test]
async fn unbound_flows_work_only_in_compatibility_mode() {
    let Some((app, standin)) = spawn(Backend::Sqlite, true).await else {
        return;
    };
    let started = authorize(&app, &[("redirect_uri", REDIRECT_URI)]).await;
    let url = expect_status(started, StatusCode::OK).await["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = standin.issue_code(&url, Grant::new("old-spa", &unique_email()));
    let signed_in = callback(
        &app,
        "/api/auth/oidc/acme/callback",
        json!({ "code": code, "state": state_of(&url) }),
        None,
    )
    .await;
    expect_status(signed_in, StatusCode::OK).await;
}
