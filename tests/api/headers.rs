//! Headers on every response: no caching of tokens or personal data (RFC 6749 §5.1), no MIME
//! sniffing, no referrer; the public key documents stay cacheable.

use reqwest::header::{CACHE_CONTROL, PRAGMA, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS};
use reqwest::{Response, StatusCode};

use crate::helpers::{pair_of, spawn_app, unique_email, Backend, PASSWORD};

fn header(response: &Response, name: reqwest::header::HeaderName) -> &str {
    response
        .headers()
        .get(&name)
        .map_or("", |v| v.to_str().unwrap())
}

fn assert_not_cached(response: &Response, what: &str) {
    assert_eq!(header(response, CACHE_CONTROL), "no-store", "{what}");
    assert_eq!(header(response, PRAGMA), "no-cache", "{what}");
    assert_eq!(
        header(response, X_CONTENT_TYPE_OPTIONS),
        "nosniff",
        "{what}"
    );
    assert_eq!(header(response, REFERRER_POLICY), "no-referrer", "{what}");
}

async fn token_responses_are_never_cached(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let email = unique_email();
    let register = app
        .post(
            "/api/auth/register",
            &serde_json::json!({ "email": email, "password": PASSWORD }),
        )
        .await;
    assert_eq!(register.status(), StatusCode::CREATED);
    assert_not_cached(&register, "register");
    let login = app.login(&email, PASSWORD).await;
    assert_not_cached(&login, "login");
    let (access, refresh) = pair_of(&login.json().await.unwrap());
    let refreshed = app.refresh(&refresh).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    assert_not_cached(&refreshed, "refresh");
    assert_not_cached(&app.get_with_bearer("/api/auth/me", &access).await, "me");
    let wrong = app.login(&email, "wrong-password-1").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_not_cached(&wrong, "a failed login");
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/auth/login"))
        .header("Origin", "http://localhost:5173")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&preflight, X_CONTENT_TYPE_OPTIONS), "nosniff");
    let unknown = app.client.get(app.url("/nope")).send().await.unwrap();
    assert_not_cached(&unknown, "404");

    let jwks = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&jwks, CACHE_CONTROL), "public, max-age=300");
    assert_eq!(header(&jwks, PRAGMA), "");
    assert_eq!(header(&jwks, X_CONTENT_TYPE_OPTIONS), "nosniff");
}

crate::on_both_backends!(token_responses_are_never_cached);

/// `jwt.jwks_max_age_secs` sets how long services may cache the keys and the discovery document.
#[tokio::test]
async fn the_key_set_may_be_cached_as_long_as_configured() {
    let Some(app) = crate::helpers::spawn_app_with(crate::helpers::Backend::Sqlite, |s| {
        s.jwt.jwks_max_age_secs = 60;
    })
    .await
    else {
        return;
    };
    for path in [
        "/.well-known/jwks.json",
        "/.well-known/openid-configuration",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(
            header(&response, CACHE_CONTROL),
            "public, max-age=60",
            "{path}"
        );
    }
}
