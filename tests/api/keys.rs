//! Keys, JWKS and discovery. The key handling does not depend on the database backend, so
//! these run on SQLite only.

use std::os::unix::fs::PermissionsExt;

use actix_web::{test, web, App, HttpResponse};
use authd::auth::keys::{generate_private_key, parse_algorithm, public_key_pem};
use authd::auth::{AuthenticatedUser, TokenVerifier};
use authd::config::VerificationKeySettings;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::helpers::{
    expect_status, header_of, key_path, spawn_app, spawn_app_with, start, test_settings,
    unique_email, Backend, TestApp, TestDatabase,
};

#[tokio::test]
async fn every_algorithm_signs_and_verifies() {
    for name in ["ES256", "RS256", "HS256", "EdDSA"] {
        let db = TestDatabase::create(Backend::Sqlite).unwrap();
        let mut settings = test_settings(&db);
        let algorithm = parse_algorithm(name).unwrap();
        let secret = generate_private_key(algorithm).unwrap();
        settings.jwt.algorithm = name.into();
        settings.jwt.generate_key = false;
        if name == "HS256" {
            settings.jwt.secret = secret;
        } else {
            std::fs::write(key_path(&db), secret.expose_secret()).unwrap();
        }
        let app = start(settings, db);
        let account = app.register(&unique_email()).await;
        assert_eq!(header_of(&account.access)["alg"], name);
        expect_status(
            app.get_with_bearer("/api/auth/me", &account.access).await,
            StatusCode::OK,
        )
        .await;
        let jwks = app.get_ok("/.well-known/jwks.json").await;
        let keys = jwks["keys"].as_array().unwrap();
        if name == "HS256" {
            assert!(
                keys.is_empty(),
                "an HS256 secret must never be published: {jwks}"
            );
        } else {
            assert_eq!(keys.len(), 1);
            assert_eq!(keys[0]["alg"], name);
            assert_eq!(keys[0]["use"], "sig");
            assert!(keys[0].get("d").is_none(), "private part published: {jwks}");
        }
    }
}

#[tokio::test]
async fn the_generated_key_is_private_and_reused_across_restarts() {
    let Some(mut app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let kid = header_of(&account.access)["kid"].clone();
    let mode = std::fs::metadata(key_path(&app.db))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    app.restart();
    expect_status(
        app.get_with_bearer("/api/auth/me", &account.access).await,
        StatusCode::OK,
    )
    .await;
    let again = app.login_pair(&account.email).await;
    assert_eq!(header_of(&again.0)["kid"], kid);
}

#[tokio::test]
async fn an_old_key_keeps_verifying_after_rotation() {
    let Some(old_app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let account = old_app.register(&unique_email()).await;
    let old_private = std::fs::read_to_string(key_path(&old_app.db)).unwrap();
    let old_kid = header_of(&account.access)["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_public = public_key_pem(parse_algorithm("EdDSA").unwrap(), &old_private).unwrap();

    let new_app = spawn_app_with(Backend::Sqlite, |s| {
        s.jwt.verification_keys = vec![VerificationKeySettings {
            kid: old_kid.clone(),
            algorithm: "EdDSA".into(),
            public_key_file: String::new(),
            public_key: old_public,
            secret: SecretString::from(String::new()),
        }];
    })
    .await
    .unwrap();
    let jwks = expect_status(
        new_app
            .client
            .get(new_app.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2);
    assert!(kids.contains(&old_kid.as_str()));
    // The old app's token verifies at the new one (stateless verify; no such user there).
    let verify = new_app
        .post(
            "/api/auth/token/verify",
            &serde_json::json!({ "token": account.access }),
        )
        .await;
    expect_status(verify, StatusCode::OK).await;
}

/// The README's rotation recipe with a fixed `jwt.kid` kept for the new key: two keys under
/// one kid. Refused at start, instead of every new token failing verification.
#[tokio::test]
async fn two_keys_with_the_same_kid_are_refused_at_start() {
    let db = TestDatabase::create(Backend::Sqlite).unwrap();
    let mut settings = test_settings(&db);
    let old_private = generate_private_key(parse_algorithm("EdDSA").unwrap()).unwrap();
    settings.jwt.kid = "2026".into();
    settings.jwt.verification_keys = vec![VerificationKeySettings {
        kid: "2026".into(),
        algorithm: "EdDSA".into(),
        public_key_file: String::new(),
        public_key: public_key_pem(
            parse_algorithm("EdDSA").unwrap(),
            old_private.expose_secret(),
        )
        .unwrap(),
        secret: SecretString::from(String::new()),
    }];
    let error = authd::startup::Application::build(settings.clone())
        .err()
        .expect("a repeated kid is refused");
    assert!(error.to_string().contains("\"2026\""), "{error}");
    assert!(error.to_string().contains("more than one key"), "{error}");
    settings.jwt.verification_keys[0].kid = "2025".into();
    assert!(authd::startup::Application::build(settings).is_ok());
}

#[tokio::test]
async fn another_actix_service_verifies_tokens_through_the_jwks() {
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let discovery = app.get_ok("/.well-known/openid-configuration").await;
    assert_eq!(discovery["issuer"], "http://localhost:8000");
    assert_eq!(
        discovery["jwks_uri"],
        "http://localhost:8000/.well-known/jwks.json"
    );
    assert_eq!(
        discovery["access_token_signing_alg_values_supported"],
        json!(["EdDSA"])
    );
    assert_eq!(
        discovery["introspection_endpoint"],
        "http://localhost:8000/api/auth/introspect"
    );
    // Only what authd serves: no OAuth grants or endpoints it does not have, no ID tokens.
    for untrue in [
        "grant_types_supported",
        "response_types_supported",
        "token_endpoint",
        "userinfo_endpoint",
        "id_token_signing_alg_values_supported",
        "token_endpoint_auth_signing_alg_values_supported",
    ] {
        assert!(discovery.get(untrue).is_none(), "{untrue} in {discovery}");
    }
    let jwks: jsonwebtoken::jwk::JwkSet = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let verifier = TokenVerifier::from_jwks(&jwks, "http://localhost:8000", "authd", 30);

    let service = test::init_service(
        App::new().app_data(web::Data::new(verifier)).route(
            "/orders",
            web::get()
                .to(|user: AuthenticatedUser| async move { HttpResponse::Ok().body(user.user_id) }),
        ),
    )
    .await;
    let ok = test::TestRequest::get()
        .uri("/orders")
        .insert_header(("Authorization", format!("Bearer {}", account.access)))
        .to_request();
    let response = test::call_service(&service, ok).await;
    assert_eq!(response.status(), actix_web::http::StatusCode::OK);
    assert_eq!(test::read_body(response).await, account.id.as_bytes());
    let refused = test::TestRequest::get()
        .uri("/orders")
        .insert_header(("Authorization", format!("Bearer {}", account.refresh)))
        .to_request();
    let response = test::call_service(&service, refused).await;
    assert_eq!(response.status(), actix_web::http::StatusCode::UNAUTHORIZED);
}

/// Rotates the signing key of an app that signs with its generated key, as the README's recipe
/// does: a new private key, the old one kept for verification, the same port. Returns the old
/// kid (read from `token`, one of the old key's tokens).
pub fn rotate_signing_key(app: &mut TestApp, token: &str) -> String {
    let old_private = std::fs::read_to_string(key_path(&app.db)).unwrap();
    let old_kid = header_of(token)["kid"].as_str().unwrap().to_owned();
    let eddsa = parse_algorithm("EdDSA").unwrap();
    app.settings.jwt.private_key = generate_private_key(eddsa).unwrap();
    app.settings.jwt.verification_keys = vec![VerificationKeySettings {
        kid: old_kid.clone(),
        algorithm: "EdDSA".into(),
        public_key_file: String::new(),
        public_key: public_key_pem(eddsa, &old_private).unwrap(),
        secret: SecretString::from(String::new()),
    }];
    app.settings.server.port = app.address.rsplit(':').next().unwrap().parse().unwrap();
    app.restart();
    old_kid
}
