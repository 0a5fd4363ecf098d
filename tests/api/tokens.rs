use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    claims_of, expect_error, expect_reason, expect_status, header_of, key_path, spawn_app,
    spawn_app_with, unique_email, Backend, TestApp,
};

async fn access_tokens_follow_rfc_9068(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let header = header_of(&account.access);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "EdDSA");
    let jwks = app.get_ok("/.well-known/jwks.json").await;
    assert_eq!(header["kid"], jwks["keys"][0]["kid"]);
    let claims = claims_of(&account.access);
    for key in [
        "iss",
        "aud",
        "sub",
        "exp",
        "iat",
        "jti",
        "sid",
        "client_id",
        "email",
        "isStaff",
    ] {
        assert!(claims.get(key).is_some(), "no {key} in {claims}");
    }
    assert_eq!(claims["iss"], "http://localhost:8000");
    assert_eq!(claims["aud"], "authd");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    let refresh_header = header_of(&account.refresh);
    let refresh = claims_of(&account.refresh);
    assert_eq!(refresh_header["typ"], "refresh+jwt");
    assert_eq!(refresh["token_type"], "refresh");
    assert_eq!(refresh["sid"], claims["sid"]);
    assert_ne!(refresh["jti"], claims["jti"]);
}

async fn claims_are_read_from_the_token_alone(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let body = expect_status(
        app.get_with_bearer("/api/auth/claims", &account.access)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body, claims_of(&account.access));
    let refused = app
        .get_with_bearer("/api/auth/claims", &account.refresh)
        .await;
    expect_error(refused, StatusCode::UNAUTHORIZED, "token_invalid").await;
}

async fn verify_accepts_only_valid_access_tokens(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let ok = app
        .post(
            "/api/auth/token/verify/",
            &json!({ "token": account.access }),
        )
        .await;
    assert_eq!(expect_status(ok, StatusCode::OK).await, json!({}));
    let garbage = app
        .post("/api/auth/token/verify", &json!({ "token": "garbage" }))
        .await;
    expect_error(garbage, StatusCode::UNAUTHORIZED, "token_invalid").await;
}

/// A token like authd's, signed by someone holding `key`, with some claims changed.
fn forge(app: &TestApp, access: &str, changes: Value, key: &EncodingKey, alg: Algorithm) -> String {
    let mut claims = claims_of(access);
    for (name, value) in changes.as_object().unwrap() {
        claims[name] = value.clone();
    }
    let mut header = Header::new(alg);
    header.typ = Some("at+jwt".into());
    header.kid = header_of(access)["kid"].as_str().map(str::to_owned);
    let _ = app;
    encode(&header, &claims, key).unwrap()
}

fn real_key(app: &TestApp) -> EncodingKey {
    EncodingKey::from_ed_pem(&std::fs::read(key_path(&app.db)).unwrap()).unwrap()
}

async fn wrong_issuer_audience_or_tampering_are_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let key = real_key(&app);
    // Sanity: the forger's own copy of authd's claims is accepted, so each refusal below is
    // caused by the one change it makes.
    let same = forge(&app, &account.access, json!({}), &key, Algorithm::EdDSA);
    expect_status(
        app.get_with_bearer("/api/auth/me", &same).await,
        StatusCode::OK,
    )
    .await;
    let cases = [
        (
            json!({ "iss": "https://evil.example" }),
            "issued by someone else",
        ),
        (json!({ "aud": "another-service" }), "another audience"),
        (json!({ "exp": chrono::Utc::now().timestamp() - 3600 }), ""),
    ];
    for (change, reason) in cases {
        let token = forge(
            &app,
            &account.access,
            change.clone(),
            &key,
            Algorithm::EdDSA,
        );
        let response = app.get_with_bearer("/api/auth/me", &token).await;
        if reason.is_empty() {
            expect_error(response, StatusCode::UNAUTHORIZED, "token_expired").await;
        } else {
            let body = expect_error(response, StatusCode::UNAUTHORIZED, "token_invalid").await;
            assert!(
                body["details"]["reason"].as_str().unwrap().contains(reason),
                "{change}: {body}"
            );
        }
    }
    // Tampering: claims changed without re-signing.
    let mut parts: Vec<String> = account.access.split('.').map(str::to_owned).collect();
    let mut claims = claims_of(&account.access);
    claims["isStaff"] = json!(true);
    parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
    let tampered = parts.join(".");
    expect_reason(
        app.get_with_bearer("/api/auth/me", &tampered).await,
        StatusCode::UNAUTHORIZED,
        "token_invalid",
        "signature",
    )
    .await;
}

async fn algorithm_confusion_is_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let jwks = app.get_ok("/.well-known/jwks.json").await;
    let public_x = URL_SAFE_NO_PAD
        .decode(jwks["keys"][0]["x"].as_str().unwrap())
        .unwrap();
    // HS256 "signed" with the public key, which an attacker has.
    let hs256 = forge(
        &app,
        &account.access,
        json!({}),
        &EncodingKey::from_secret(&public_x),
        Algorithm::HS256,
    );
    expect_reason(
        app.get_with_bearer("/api/auth/me", &hs256).await,
        StatusCode::UNAUTHORIZED,
        "token_invalid",
        "algorithm",
    )
    .await;
    // alg: none, no signature at all.
    let header =
        json!({ "alg": "none", "typ": "at+jwt", "kid": header_of(&account.access)["kid"] });
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims_of(&account.access).to_string())
    );
    expect_error(
        app.get_with_bearer("/api/auth/me", &unsigned).await,
        StatusCode::UNAUTHORIZED,
        "token_invalid",
    )
    .await;
    // A key id the server does not have.
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some("at+jwt".into());
    header.kid = Some("someone-elses-key".into());
    let unknown_kid = encode(&header, &claims_of(&account.access), &real_key(&app)).unwrap();
    expect_reason(
        app.get_with_bearer("/api/auth/me", &unknown_kid).await,
        StatusCode::UNAUTHORIZED,
        "token_invalid",
        "kid",
    )
    .await;
}

async fn an_expired_access_token_is_refused(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| {
        s.jwt.access_ttl_secs = 1;
        s.jwt.leeway_secs = 0;
    })
    .await
    else {
        return;
    };
    let account = app.register(&unique_email()).await;
    expect_status(
        app.get_with_bearer("/api/auth/me", &account.access).await,
        StatusCode::OK,
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let response = app.get_with_bearer("/api/auth/me", &account.access).await;
    expect_error(response, StatusCode::UNAUTHORIZED, "token_expired").await;
    let verify = app
        .post(
            "/api/auth/token/verify",
            &json!({ "token": account.access }),
        )
        .await;
    expect_error(verify, StatusCode::UNAUTHORIZED, "token_expired").await;
    // The refresh dance gets a working pair again.
    let (access, _) = crate::helpers::pair_of(
        &expect_status(app.refresh(&account.refresh).await, StatusCode::OK).await,
    );
    expect_status(
        app.get_with_bearer("/api/auth/me", &access).await,
        StatusCode::OK,
    )
    .await;
}

/// RFC 7515 / RFC 8725 strictness, on tokens signed with authd's own key: an unknown `crit`,
/// a future `nbf` or `iat`, and a lifetime longer than authd issues are all refused.
#[tokio::test]
async fn crit_nbf_future_iat_and_absurd_lifetimes_are_refused() {
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let key = real_key(&app);
    let now = chrono::Utc::now().timestamp();
    let cases = [
        (json!({ "nbf": now + 3600 }), "nbf"),
        (
            json!({ "iat": now + 3600, "exp": now + 4000 }),
            "iat is in the future",
        ),
        (
            json!({ "iat": now, "exp": now + 10 * 365 * 86400 }),
            "lifetime",
        ),
    ];
    for (change, reason) in cases {
        let token = forge(&app, &account.access, change, &key, Algorithm::EdDSA);
        expect_reason(
            app.get_with_bearer("/api/auth/me", &token).await,
            StatusCode::UNAUTHORIZED,
            "token_invalid",
            reason,
        )
        .await;
    }
    // A past nbf is fine.
    let fine = forge(
        &app,
        &account.access,
        json!({ "nbf": now - 60 }),
        &key,
        Algorithm::EdDSA,
    );
    expect_status(
        app.get_with_bearer("/api/auth/me", &fine).await,
        StatusCode::OK,
    )
    .await;

    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some("at+jwt".into());
    header.kid = header_of(&account.access)["kid"]
        .as_str()
        .map(str::to_owned);
    header.crit = Some(vec!["exp".into()]);
    let critical = encode(&header, &claims_of(&account.access), &key).unwrap();
    expect_reason(
        app.get_with_bearer("/api/auth/me", &critical).await,
        StatusCode::UNAUTHORIZED,
        "token_invalid",
        "crit",
    )
    .await;

    // A refresh token that claims a ten-year life.
    let mut claims = claims_of(&account.refresh);
    claims["exp"] = json!(now + 10 * 365 * 86400);
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some("refresh+jwt".into());
    header.kid = header_of(&account.refresh)["kid"]
        .as_str()
        .map(str::to_owned);
    let long_lived = encode(&header, &claims, &key).unwrap();
    expect_reason(
        app.refresh(&long_lived).await,
        StatusCode::UNAUTHORIZED,
        "token_invalid",
        "lifetime",
    )
    .await;
    expect_status(app.refresh(&account.refresh).await, StatusCode::OK).await;
}

crate::on_both_backends!(
    claims_are_read_from_the_token_alone,
    access_tokens_follow_rfc_9068,
    verify_accepts_only_valid_access_tokens,
    wrong_issuer_audience_or_tampering_are_refused,
    algorithm_confusion_is_refused,
    an_expired_access_token_is_refused,
);
