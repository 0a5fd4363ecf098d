//! Account lockout: repeated failed password checks lock an account for addresses it has not
//! signed in from, never for its familiar ones; unknown names lock the same way; the password
//! change counts; a success clears the count; locks grow.

use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::helpers::{
    expect_error, expect_status, spawn_app_with, unique_email, Backend, TestApp, TestDatabase,
    PASSWORD,
};
use crate::process::RunningServer;

const OWNER_HOME: &str = "198.51.100.10";
const STRANGER: &str = "203.0.113.66";

/// Three failures lock for 2 s; the client address comes from X-Forwarded-For (the test
/// client is the trusted proxy), so one test can play several clients.
async fn spawn(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |s| {
        s.server.trusted_proxies = vec!["127.0.0.0/8".into()];
        s.lockout.max_failures = 3;
        s.lockout.lock_secs = 2;
        s.lockout.max_lock_secs = 60;
    })
    .await
}

async fn login(app: &TestApp, email: &str, password: &str, from: &str) -> Response {
    app.client
        .post(app.url("/api/auth/login"))
        .header("X-Forwarded-For", from)
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
}

async fn fail_three_times(app: &TestApp, email: &str, from: &str) {
    for _ in 0..3 {
        let wrong = login(app, email, "wrong-Password-1", from).await;
        expect_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
}

async fn expect_locked(response: Response) -> u64 {
    let body = expect_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    body["details"]["retryAfter"].as_u64().unwrap()
}

async fn a_strangers_failures_lock_the_account_but_not_for_its_owner(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    expect_status(
        login(&app, &account.email, PASSWORD, OWNER_HOME).await,
        StatusCode::OK,
    )
    .await;

    fail_three_times(&app, &account.email, STRANGER).await;
    // Locked for the stranger even with the right password, and for any other new address.
    expect_locked(login(&app, &account.email, PASSWORD, STRANGER).await).await;
    expect_locked(login(&app, &account.email, PASSWORD, "192.0.2.44").await).await;
    // The owner at home is not locked out; the success clears the count.
    expect_status(
        login(&app, &account.email, PASSWORD, OWNER_HOME).await,
        StatusCode::OK,
    )
    .await;
    expect_status(
        login(&app, &account.email, PASSWORD, STRANGER).await,
        StatusCode::OK,
    )
    .await;

    // Each lock in a row lasts longer: 2 s, then 4 s.
    fail_three_times(&app, &account.email, "192.0.2.50").await;
    let first = expect_locked(login(&app, &account.email, PASSWORD, "192.0.2.50").await).await;
    assert!((1..=2).contains(&first), "first lock: {first} s");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    fail_three_times(&app, &account.email, "192.0.2.50").await;
    let second = expect_locked(login(&app, &account.email, PASSWORD, "192.0.2.50").await).await;
    assert!((3..=4).contains(&second), "second lock: {second} s");
}

/// A name without an account locks exactly like an account: a lock reveals nothing.
async fn unknown_names_lock_the_same_way(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let nobody = unique_email();
    fail_three_times(&app, &nobody, STRANGER).await;
    expect_locked(login(&app, &nobody, "wrong-Password-1", STRANGER).await).await;
    // Another spelling of the same name shares the count.
    expect_locked(login(&app, &nobody.to_uppercase(), "x", STRANGER).await).await;
}

/// The current password in a password change is a login attempt: a stolen access token cannot
/// guess it faster than the login page allows.
async fn the_password_change_counts_as_a_login_attempt(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| {
        s.lockout.max_failures = 3;
        s.rate_limit.password_change_per_user = None;
    })
    .await
    else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let change = |current: &str| json!({ "currentPassword": current, "newPassword": "copper-Lantern-Meadow-58" });
    for _ in 0..3 {
        let wrong = app
            .post_with_bearer(
                "/api/auth/password",
                &account.access,
                &change("guess-Word-9"),
            )
            .await;
        expect_error(wrong, StatusCode::BAD_REQUEST, "validation_error").await;
    }
    let right = app
        .post_with_bearer("/api/auth/password", &account.access, &change(PASSWORD))
        .await;
    expect_locked(right).await;
    expect_locked(app.login(&account.email, PASSWORD).await).await;
}

crate::on_both_backends!(
    a_strangers_failures_lock_the_account_but_not_for_its_owner,
    unknown_names_lock_the_same_way,
    the_password_change_counts_as_a_login_attempt,
);

/// A lock is an audit event in the log, naming the account but not the password.
#[tokio::test]
async fn a_lock_is_logged() {
    let db = TestDatabase::create(Backend::Sqlite).unwrap();
    let server = RunningServer::start(&db, &[("AUTHD__LOCKOUT__MAX_FAILURES", "2")]);
    let client = reqwest::Client::new();
    let email = unique_email();
    let register = client
        .post(format!("{}/api/auth/register", server.base))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let id = expect_status(register, StatusCode::CREATED).await["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..2 {
        client
            .post(format!("{}/api/auth/login", server.base))
            .json(&json!({ "email": email, "password": "wrong-Password-1" }))
            .send()
            .await
            .unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let log = server.log_text();
    assert!(
        log.contains(&format!("lockout: user {id} locked until")),
        "{log}"
    );
    assert!(!log.contains("wrong-Password-1"), "{log}");
    assert!(!log.contains(&email), "{log}");
}
