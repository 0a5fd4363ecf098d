use authd::auth::password::PasswordHasher;
use authd::config::PasswordSettings;
use authd::db::users::User;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::json;

use crate::helpers::{expect_error, expect_status, spawn_app, unique_email, Backend, PASSWORD};

async fn login_by_email_username_and_the_simplejwt_alias(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let email = unique_email();
    let register = json!({ "email": email, "password": PASSWORD, "username": "dora" });
    expect_status(
        app.post("/api/auth/register", &register).await,
        StatusCode::CREATED,
    )
    .await;

    let by_email = expect_status(
        app.login(&email.to_uppercase(), PASSWORD).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(by_email["user"]["email"], email.as_str());
    assert!(by_email["access"].is_string() && by_email["refresh"].is_string());

    let by_username = app
        .post(
            "/api/auth/login",
            &json!({ "username": "DORA", "password": PASSWORD }),
        )
        .await;
    expect_status(by_username, StatusCode::OK).await;

    // simplejwt clients: /api/auth/token/ with the email in `username`.
    let django = app
        .post(
            "/api/auth/token/",
            &json!({ "username": email, "password": PASSWORD }),
        )
        .await;
    let body = expect_status(django, StatusCode::OK).await;
    assert_eq!(body["user"]["username"], "dora");
}

async fn wrong_password_and_unknown_email_look_the_same(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let wrong = expect_error(
        app.login(&account.email, "violet-Tractor-43").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let unknown = expect_error(
        app.login("nobody@example.com", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_eq!(wrong, unknown);
    let missing = app
        .post("/api/auth/login", &json!({ "password": PASSWORD }))
        .await;
    expect_error(missing, StatusCode::BAD_REQUEST, "validation_error").await;
}

async fn a_deactivated_user_can_neither_log_in_nor_refresh(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    User::set_active(&mut app.db_conn(), &account.id, false).unwrap();
    expect_error(
        app.login(&account.email, PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "user_inactive",
    )
    .await;
    expect_error(
        app.refresh(&account.refresh).await,
        StatusCode::UNAUTHORIZED,
        "user_inactive",
    )
    .await;
    let me = app.get_with_bearer("/api/auth/me", &account.access).await;
    expect_error(me, StatusCode::UNAUTHORIZED, "user_inactive").await;
    // Wrong password for a deactivated user does not reveal that it is deactivated.
    expect_error(
        app.login(&account.email, "violet-Tractor-43").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    // The refused refresh wrote nothing: once reactivated, the same token still rotates.
    User::set_active(&mut app.db_conn(), &account.id, true).unwrap();
    expect_status(app.refresh(&account.refresh).await, StatusCode::OK).await;
}

async fn old_hashes_are_upgraded_at_the_next_login(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let old = PasswordHasher::new(&PasswordSettings {
        memory_kib: 2048,
        iterations: 3,
        parallelism: 1,
        max_concurrent_hashes: 1,
        queue_timeout_ms: 1000,
    })
    .unwrap();
    let old_hash = old
        .hash_blocking(&SecretString::from(PASSWORD.to_owned()))
        .unwrap();
    assert!(old_hash.contains("m=2048,t=3,p=1"));
    User::set_password_hash(&mut app.db_conn(), &account.id, &old_hash).unwrap();

    expect_status(app.login(&account.email, PASSWORD).await, StatusCode::OK).await;
    let stored = User::find_by_id(&mut app.db_conn(), &account.id)
        .unwrap()
        .password_hash
        .unwrap();
    assert!(
        stored.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"),
        "not upgraded: {stored}"
    );
    expect_status(app.login(&account.email, PASSWORD).await, StatusCode::OK).await;
}

crate::on_both_backends!(
    login_by_email_username_and_the_simplejwt_alias,
    wrong_password_and_unknown_email_look_the_same,
    a_deactivated_user_can_neither_log_in_nor_refresh,
    old_hashes_are_upgraded_at_the_next_login,
);

/// With one hash at a time and almost no queueing allowed, a burst of logins is answered with
/// 503 `overloaded` for what cannot be served, instead of piling up.
#[tokio::test]
async fn a_burst_of_logins_beyond_the_hashing_bound_gets_503_overloaded() {
    let Some(app) = crate::helpers::spawn_app_with(Backend::Sqlite, |s| {
        s.password.memory_kib = 32 * 1024;
        s.password.iterations = 3;
        s.password.max_concurrent_hashes = 1;
        s.password.queue_timeout_ms = 1;
    })
    .await
    else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let attempts = (0..8).map(|_| app.login(&account.email, PASSWORD));
    let responses = futures::future::join_all(attempts).await;
    let mut statuses = Vec::new();
    let mut overloaded = 0;
    for response in responses {
        statuses.push(response.status());
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            assert!(response.headers().contains_key("retry-after"));
            expect_error(response, StatusCode::SERVICE_UNAVAILABLE, "overloaded").await;
            overloaded += 1;
        }
    }
    assert!(statuses.contains(&StatusCode::OK), "{statuses:?}");
    assert!(overloaded > 0, "{statuses:?}");
    assert!(statuses
        .iter()
        .all(|s| *s == StatusCode::OK || *s == StatusCode::SERVICE_UNAVAILABLE));
}
