//! The cut-over of live SPA sessions: simplejwt refresh tokens, signed here exactly as
//! simplejwt signs them (HS256 under the Django SECRET_KEY, header `{"alg":"HS256","typ":"JWT"}`),
//! exchanged once for authd pairs of the users `authd import-django` brought over, within the
//! window and never outside it.

use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::django_import::{import, DjangoDb, DJANGO_SECRET, PBKDF2_HASH};
use crate::helpers::{
    expect_error, expect_status, pair_of, start, test_settings, Backend, TestApp, TestDatabase,
};
use crate::process::{authd, run, text};

crate::on_both_backends!(
    a_simplejwt_refresh_token_crosses_over_once_within_the_window,
    after_the_window_or_without_it_no_simplejwt_token_is_accepted,
);

/// A token as simplejwt 5.5 makes one: HS256, header `{"alg":"HS256","typ":"JWT"}`.
pub fn simplejwt_token(secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn refresh_claims(user_id: Value, exp_in_secs: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "token_type": "refresh",
        "exp": now + exp_in_secs,
        "iat": now - 60,
        "jti": uuid::Uuid::new_v4().simple().to_string(),
        "user_id": user_id,
    })
}

fn cutover_app(
    backend: Backend,
    until: chrono::DateTime<chrono::Utc>,
    grace: u64,
) -> Option<(TestApp, DjangoDb)> {
    let db = TestDatabase::create(backend)?;
    let mut settings = test_settings(&db);
    settings.django.accept_simplejwt_until = until.to_rfc3339();
    settings.django.secret_key = SecretString::from(DJANGO_SECRET.to_owned());
    settings.jwt.refresh_reuse_grace_secs = grace;
    let app = start(settings, db);
    let django = DjangoDb::new();
    django.add_user(
        1,
        "alice",
        "alice@example.com",
        PBKDF2_HASH,
        None,
        false,
        true,
    );
    django.add_user(2, "bob", "bob@example.com", PBKDF2_HASH, None, false, false);
    django.blacklist(1, "logged-out-jti", 1, "2099-01-01 00:00:00");
    let (ok, report) = import(&app, &django.url(), &[]);
    assert!(ok, "{report}");
    Some((app, django))
}

async fn a_simplejwt_refresh_token_crosses_over_once_within_the_window(backend: Backend) {
    let until = chrono::Utc::now() + chrono::Duration::hours(1);
    let Some((app, _django)) = cutover_app(backend, until, 10) else {
        return;
    };
    // simplejwt before 5.5 wrote the user id as a number, 5.5 as a string: both cross over.
    for user_id in [json!(1), json!("1")] {
        let token = simplejwt_token(DJANGO_SECRET, &refresh_claims(user_id, 3600));
        let body = expect_status(
            app.post("/api/auth/token/refresh/", &json!({"refresh": token}))
                .await,
            StatusCode::OK,
        )
        .await;
        let (access, refresh) = pair_of(&body);
        let me = expect_status(
            app.get_with_bearer("/api/auth/me", &access).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(me["email"], "alice@example.com");
        // Once only; within the grace period the session it started goes on (a second tab).
        let again = app
            .post("/api/auth/token/refresh/", &json!({"refresh": token}))
            .await;
        expect_error(again, StatusCode::UNAUTHORIZED, "token_reused").await;
        expect_status(app.refresh(&refresh).await, StatusCode::OK).await;
    }
    // Concurrent exchanges of one token: exactly one pair.
    let token = simplejwt_token(DJANGO_SECRET, &refresh_claims(json!(1), 3600));
    let body = json!({"refresh": token});
    let attempts =
        futures::future::join_all((0..6).map(|_| app.post("/api/auth/refresh", &body))).await;
    let statuses: Vec<StatusCode> = attempts.iter().map(|r| r.status()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );

    let now = chrono::Utc::now().timestamp();
    let refused = [
        (refresh_claims(json!(1), -5), DJANGO_SECRET, "token_expired"),
        (
            refresh_claims(json!(1), 3600),
            "another-secret-key-entirely-0123456789abcdef",
            "token_invalid",
        ),
        (
            json!({"token_type": "access", "exp": now + 300, "iat": now, "jti": "a1", "user_id": 1}),
            DJANGO_SECRET,
            "token_invalid",
        ),
        (
            json!({"token_type": "refresh", "exp": now + 300, "iat": now, "jti": "logged-out-jti", "user_id": 1}),
            DJANGO_SECRET,
            "token_revoked",
        ),
        (
            refresh_claims(json!(999), 3600),
            DJANGO_SECRET,
            "token_invalid",
        ),
        (
            json!({"token_type": "refresh", "exp": now + 300, "iat": now, "user_id": 1}),
            DJANGO_SECRET,
            "token_invalid",
        ),
        (
            refresh_claims(json!(2), 3600),
            DJANGO_SECRET,
            "user_inactive",
        ),
    ];
    for (claims, secret, code) in refused {
        let token = simplejwt_token(secret, &claims);
        let response = app
            .post("/api/auth/refresh", &json!({"refresh": token}))
            .await;
        expect_error(response, StatusCode::UNAUTHORIZED, code).await;
    }
    // Nothing but the refresh route takes a simplejwt token.
    let access = simplejwt_token(
        DJANGO_SECRET,
        &json!({"token_type": "access", "exp": now + 300, "iat": now, "jti": "a2", "user_id": 1}),
    );
    let refresh = simplejwt_token(DJANGO_SECRET, &refresh_claims(json!(1), 3600));
    for token in [&access, &refresh] {
        let me = app.get_with_bearer("/api/auth/me", token).await;
        assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
        let verify = app
            .post("/api/auth/token/verify/", &json!({"token": token}))
            .await;
        assert_eq!(verify.status(), StatusCode::UNAUTHORIZED);
    }
}

async fn after_the_window_or_without_it_no_simplejwt_token_is_accepted(backend: Backend) {
    // Reuse after the grace period ends the session the token started.
    let until = chrono::Utc::now() + chrono::Duration::hours(1);
    let Some((app, _django)) = cutover_app(backend, until, 0) else {
        return;
    };
    let token = simplejwt_token(DJANGO_SECRET, &refresh_claims(json!(1), 3600));
    let body = expect_status(
        app.post("/api/auth/refresh", &json!({"refresh": token}))
            .await,
        StatusCode::OK,
    )
    .await;
    let (_, refresh) = pair_of(&body);
    let again = app
        .post("/api/auth/refresh", &json!({"refresh": token}))
        .await;
    expect_error(again, StatusCode::UNAUTHORIZED, "token_reused").await;
    expect_error(
        app.refresh(&refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;

    // The window's end, on a running server: a token crosses over just before it, and the
    // same kind of token is refused just after it.
    let closes = chrono::Utc::now() + chrono::Duration::seconds(3);
    let Some((app, _django)) = cutover_app(backend, closes, 10) else {
        return;
    };
    let before = simplejwt_token(DJANGO_SECRET, &refresh_claims(json!(1), 3600));
    let response = app
        .post("/api/auth/refresh", &json!({"refresh": before}))
        .await;
    expect_status(response, StatusCode::OK).await;
    let wait = closes - chrono::Utc::now() + chrono::Duration::milliseconds(300);
    tokio::time::sleep(wait.to_std().unwrap_or_default()).await;
    let token = simplejwt_token(DJANGO_SECRET, &refresh_claims(json!(1), 3600));
    let response = app
        .post("/api/auth/refresh", &json!({"refresh": token}))
        .await;
    expect_error(response, StatusCode::UNAUTHORIZED, "token_invalid").await;

    // No window configured (the default).
    let Some(app) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    let response = app
        .post("/api/auth/refresh", &json!({"refresh": token}))
        .await;
    expect_error(response, StatusCode::UNAUTHORIZED, "token_invalid").await;

    // Half a configuration is refused at start, in every profile.
    let db = TestDatabase::create(Backend::Sqlite).unwrap();
    for (until, secret) in [
        ("2099-01-01T00:00:00Z", ""),
        ("", DJANGO_SECRET),
        ("next week", DJANGO_SECRET),
    ] {
        let output = run(
            &mut authd(
                &["migrate"],
                &db,
                &[
                    ("AUTHD__DJANGO__ACCEPT_SIMPLEJWT_UNTIL", until),
                    ("AUTHD__DJANGO__SECRET_KEY", secret),
                ],
            ),
            None,
        );
        assert!(!output.status.success(), "{until:?} {secret:?}");
        assert!(
            text(&output.stderr).contains("django."),
            "{}",
            text(&output.stderr)
        );
    }
}
