//! Sign-in through identity providers, against the stand-in provider of `standin.rs`.

use std::collections::HashMap;

use authd::config::{ProviderSettings, Settings};
use reqwest::{Response, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::helpers::{
    expect_error, expect_reason, expect_status, spawn_app_with, unique_email, Backend, TestApp,
    PASSWORD,
};
use crate::standin::{Grant, SigningKey, StandIn, CLIENT_ID, CLIENT_SECRET};

pub const REDIRECT_URI: &str = "http://localhost:5173/auth/callback";

pub fn provider(kind: &str, issuer: &str, display_name: &str) -> ProviderSettings {
    ProviderSettings {
        kind: kind.into(),
        issuer: issuer.into(),
        client_id: CLIENT_ID.into(),
        client_secret: SecretString::from(CLIENT_SECRET.to_owned()),
        scopes: vec![],
        display_name: display_name.into(),
        team_id: String::new(),
        key_id: String::new(),
        private_key: SecretString::from(String::new()),
        private_key_file: String::new(),
        authorization_url: String::new(),
        token_url: String::new(),
        api_url: String::new(),
    }
}

/// authd with the stand-in as provider `acme` (and as `other`, a second provider).
pub async fn spawn(
    backend: Backend,
    customise: impl FnOnce(&mut Settings, &StandIn),
) -> Option<(TestApp, StandIn)> {
    let standin = StandIn::start();
    let app = spawn_app_with(backend, |s| {
        s.oidc
            .providers
            .insert("acme".into(), provider("oidc", &standin.base, "Acme ID"));
        s.oidc
            .providers
            .insert("other".into(), provider("oidc", &standin.base, ""));
        customise(s, &standin);
    })
    .await?;
    Some((app, standin))
}

/// The secret the test "browser" keeps, and its S256 challenge (RFC 7636, Appendix B).
pub const BROWSER_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const BROWSER_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// The query of an authorize bound to the test browser.
pub fn authorize_query() -> [(&'static str, &'static str); 3] {
    [
        ("redirect_uri", REDIRECT_URI),
        ("code_challenge", BROWSER_CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
}

pub async fn authorize_url(app: &TestApp, provider: &str) -> String {
    authorize_url_as(app, provider, None).await
}

/// Authorize as the browser would for a sign-in, or with `bearer`, to link.
pub async fn authorize_url_as(app: &TestApp, provider: &str, bearer: Option<&str>) -> String {
    let url = app.url(&format!("/api/auth/oidc/{provider}/authorize"));
    let mut request = app
        .client
        .get(url)
        .query(&authorize_query())
        .header("Accept", "application/json");
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    expect_status(response, StatusCode::OK).await["url"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub fn state_of(url: &str) -> String {
    let url = openidconnect::url::Url::parse(url).unwrap();
    let params: HashMap<String, String> = url.query_pairs().into_owned().collect();
    params["state"].clone()
}

pub async fn post_callback(app: &TestApp, provider: &str, code: &str, state: &str) -> Response {
    app.post(
        &format!("/api/auth/oidc/{provider}/callback"),
        &json!({ "code": code, "state": state, "code_verifier": BROWSER_VERIFIER }),
    )
    .await
}

/// The whole round trip: authorize, the person logs in at the provider, callback.
pub async fn sign_in(app: &TestApp, standin: &StandIn, provider: &str, grant: Grant) -> Response {
    let url = authorize_url(app, provider).await;
    let code = standin.issue_code(&url, grant);
    post_callback(app, provider, &code, &state_of(&url)).await
}

async fn the_providers_are_listed_for_the_buttons(backend: Backend) {
    let Some((app, _standin)) = spawn(backend, |_, _| {}).await else {
        return;
    };
    let body = app.get_ok("/api/auth/oidc/providers").await;
    assert_eq!(
        body,
        json!([{ "id": "acme", "displayName": "Acme ID" }, { "id": "other", "displayName": "Other" }])
    );
}

async fn a_new_identity_creates_a_user_and_signs_in_again(backend: Backend) {
    let Some((app, standin)) = spawn(backend, |_, _| {}).await else {
        return;
    };
    // The browser form: a 302 to the provider with PKCE, state and nonce.
    let redirect = app
        .client
        .get(app.url("/api/auth/oidc/acme/authorize"))
        .query(&authorize_query())
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), StatusCode::FOUND);
    let location = redirect.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{}/authorize?", standin.base)),
        "{location}"
    );
    for param in [
        "state=",
        "nonce=",
        "code_challenge=",
        "code_challenge_method=S256",
        "scope=openid",
    ] {
        assert!(location.contains(param), "{param} missing from {location}");
    }

    let email = unique_email();
    let code = standin.issue_code(&location, Grant::new("subject-1", &email));
    let body = expect_status(
        post_callback(&app, "acme", &code, &state_of(&location)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["isNewUser"], true);
    assert_eq!(body["tokenType"], "Bearer");
    assert_eq!(body["user"]["email"], email.as_str());
    assert_eq!(body["user"]["emailVerified"], true);
    assert_eq!(body["user"]["firstName"], "Grace");
    let access = body["access"].as_str().unwrap();
    let me = expect_status(
        app.get_with_bearer("/api/auth/me", access).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["email"], email.as_str());
    let sessions = expect_status(
        app.get_with_bearer("/api/auth/sessions", access).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(sessions[0]["method"], "oidc:acme", "{sessions}");
    let refresh = body["refresh"].as_str().unwrap();
    expect_status(app.refresh(refresh).await, StatusCode::OK).await;

    let again = expect_status(
        sign_in(&app, &standin, "acme", Grant::new("subject-1", &email)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["isNewUser"], false);
    assert_eq!(again["user"]["id"], body["user"]["id"]);
    let identities = expect_status(
        app.get_with_bearer("/api/auth/identities", access).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(identities.as_array().unwrap().len(), 1);
    assert_eq!(identities[0]["provider"], "acme");
    assert_eq!(identities[0]["subject"], "subject-1");
    // The user has no password: password login cannot reach the account.
    expect_error(
        app.login(&email, PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
}

async fn redirect_uris_and_providers_must_be_known(backend: Backend) {
    let Some((app, _standin)) = spawn(backend, |_, _| {}).await else {
        return;
    };
    for redirect in [
        "https://evil.example/callback",
        "http://localhost:5173/auth/callback/../x",
        "",
    ] {
        let response = app
            .client
            .get(app.url("/api/auth/oidc/acme/authorize"))
            .query(&[("redirect_uri", redirect)])
            .send()
            .await
            .unwrap();
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_redirect_uri").await;
    }
    let response = app
        .client
        .get(app.url("/api/auth/oidc/nobody/authorize"))
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::NOT_FOUND, "unknown_provider").await;
}

async fn a_state_works_once_for_its_provider_and_not_after_it_expires(backend: Backend) {
    let Some((app, standin)) = spawn(backend, |s, _| s.oidc.state_ttl_secs = 1).await else {
        return;
    };
    let email = unique_email();
    // Reused.
    let url = authorize_url(&app, "acme").await;
    let code = standin.issue_code(&url, Grant::new("s-reuse", &email));
    expect_status(
        post_callback(&app, "acme", &code, &state_of(&url)).await,
        StatusCode::OK,
    )
    .await;
    let code = standin.issue_code(&url, Grant::new("s-reuse", &email));
    expect_error(
        post_callback(&app, "acme", &code, &state_of(&url)).await,
        StatusCode::BAD_REQUEST,
        "invalid_state",
    )
    .await;
    // For another provider.
    let url = authorize_url(&app, "other").await;
    let code = standin.issue_code(&url, Grant::new("s-other", &email));
    expect_error(
        post_callback(&app, "acme", &code, &state_of(&url)).await,
        StatusCode::BAD_REQUEST,
        "invalid_state",
    )
    .await;
    // Unknown.
    expect_error(
        post_callback(&app, "acme", "code", "made-up-state").await,
        StatusCode::BAD_REQUEST,
        "invalid_state",
    )
    .await;
    // Expired.
    let url = authorize_url(&app, "acme").await;
    let code = standin.issue_code(&url, Grant::new("s-late", &email));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    expect_error(
        post_callback(&app, "acme", &code, &state_of(&url)).await,
        StatusCode::BAD_REQUEST,
        "invalid_state",
    )
    .await;
}

/// Each broken ID token gets 401 `oidc_token_invalid` with the reason, and no account.
#[tokio::test]
async fn every_invalid_id_token_is_refused_with_its_reason() {
    let Some((app, standin)) = spawn(Backend::Sqlite, |_, _| {}).await else {
        return;
    };
    let now = chrono::Utc::now().timestamp();
    let stranger = SigningKey::generate("key-1");
    let cases: Vec<(&str, Value, Option<SigningKey>, &str)> = vec![
        (
            "wrong aud",
            json!({ "aud": "someone-else" }),
            None,
            "audience",
        ),
        (
            "wrong iss",
            json!({ "iss": "https://evil.example" }),
            None,
            "issuer",
        ),
        (
            "expired",
            json!({ "exp": now - 600, "iat": now - 900 }),
            None,
            "xpired",
        ),
        (
            "iat in the future",
            json!({ "iat": now + 3600, "exp": now + 7200 }),
            None,
            "iat",
        ),
        ("missing nonce", json!({ "nonce": null }), None, "nonce"),
        (
            "wrong nonce",
            json!({ "nonce": "not-the-one" }),
            None,
            "nonce",
        ),
        ("wrong azp", json!({ "azp": "another-client" }), None, "azp"),
        ("bad signature", json!({}), Some(stranger), "ignature"),
    ];
    for (name, overrides, sign_with, reason) in cases {
        let email = unique_email();
        let grant = Grant {
            overrides,
            sign_with,
            ..Grant::new(&format!("sub-{name}"), &email)
        };
        let response = sign_in(&app, &standin, "acme", grant).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{name} was accepted"
        );
        let body = expect_error(response, StatusCode::UNAUTHORIZED, "oidc_token_invalid").await;
        let got = body["details"]["reason"].as_str().unwrap_or_default();
        assert!(
            got.contains(reason),
            "{name}: expected {reason:?} in {got:?}"
        );
    }
}

#[tokio::test]
async fn an_unknown_kid_fetches_the_keys_again_once() {
    let Some((app, standin)) = spawn(Backend::Sqlite, |_, _| {}).await else {
        return;
    };
    // Discovery and keys are cached by the first authorize.
    let url = authorize_url(&app, "acme").await;
    let fetched = standin
        .jwks_fetches
        .load(std::sync::atomic::Ordering::SeqCst);
    standin.rotate_keys("key-2");
    let code = standin.issue_code(&url, Grant::new("rotated", &unique_email()));
    expect_status(
        post_callback(&app, "acme", &code, &state_of(&url)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        standin
            .jwks_fetches
            .load(std::sync::atomic::Ordering::SeqCst),
        fetched + 1
    );
    // A kid that is still unknown after the refetch is refused.
    let grant = Grant {
        sign_with: Some(SigningKey::generate("key-never-published")),
        ..Grant::new("unknown-kid", &unique_email())
    };
    expect_reason(
        sign_in(&app, &standin, "acme", grant).await,
        StatusCode::UNAUTHORIZED,
        "oidc_token_invalid",
        "key",
    )
    .await;
    assert_eq!(standin.current_key().kid, "key-2");
}

#[tokio::test]
async fn a_provider_that_is_down_or_refuses_the_code_is_reported() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_issuer = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let Some((app, standin)) = spawn(Backend::Sqlite, |s, _| {
        s.oidc.http_timeout_secs = 2;
        s.oidc
            .providers
            .insert("down".into(), provider("oidc", &dead_issuer, "Down"));
    })
    .await
    else {
        return;
    };
    // authd started although a provider is down, and is ready.
    app.get_ok("/readyz").await;
    let response = app
        .client
        .get(app.url("/api/auth/oidc/down/authorize"))
        .query(&authorize_query())
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::BAD_GATEWAY, "provider_unavailable").await;

    // The provider refuses the code.
    let url = authorize_url(&app, "acme").await;
    let code = standin.issue_code(&url, Grant::new("refused", &unique_email()));
    standin.refuse_codes();
    expect_reason(
        post_callback(&app, "acme", &code, &state_of(&url)).await,
        StatusCode::BAD_REQUEST,
        "oidc_exchange_failed",
        "invalid_grant",
    )
    .await;

    // The provider goes away between authorize and callback.
    let url = authorize_url(&app, "acme").await;
    drop(standin);
    let body = expect_error(
        post_callback(&app, "acme", "any-code", &state_of(&url)).await,
        StatusCode::BAD_GATEWAY,
        "provider_unavailable",
    )
    .await;
    assert!(body["details"]["reason"].is_string());
}

async fn sso_only_mode_turns_passwords_off(backend: Backend) {
    let Some((app, standin)) = spawn(backend, |s, _| s.local_login.enabled = false).await else {
        return;
    };
    let register = app
        .post(
            "/api/auth/register",
            &json!({ "email": unique_email(), "password": PASSWORD }),
        )
        .await;
    expect_error(register, StatusCode::FORBIDDEN, "local_login_disabled").await;
    expect_error(
        app.login("a@example.com", PASSWORD).await,
        StatusCode::FORBIDDEN,
        "local_login_disabled",
    )
    .await;

    let body = expect_status(
        sign_in(&app, &standin, "acme", Grant::new("sso", &unique_email())).await,
        StatusCode::OK,
    )
    .await;
    let (access, refresh) = crate::helpers::pair_of(&body);
    expect_status(
        app.get_with_bearer("/api/auth/me", &access).await,
        StatusCode::OK,
    )
    .await;
    let password = app
        .post_with_bearer(
            "/api/auth/password",
            &access,
            &json!({ "currentPassword": "x", "newPassword": "amber-Lighthouse-77" }),
        )
        .await;
    expect_error(password, StatusCode::FORBIDDEN, "local_login_disabled").await;
    let (_, refresh) =
        crate::helpers::pair_of(&expect_status(app.refresh(&refresh).await, StatusCode::OK).await);
    let logout = app
        .post("/api/auth/logout", &json!({ "refresh": refresh }))
        .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
}

crate::on_both_backends!(
    the_providers_are_listed_for_the_buttons,
    a_new_identity_creates_a_user_and_signs_in_again,
    redirect_uris_and_providers_must_be_known,
    a_state_works_once_for_its_provider_and_not_after_it_expires,
    sso_only_mode_turns_passwords_off,
);
