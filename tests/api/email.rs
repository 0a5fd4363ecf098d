//! Email flows against a real SMTP server: verification, password reset, sign-in by link or
//! code, email change; every token error; and what a stranger can learn (nothing).

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    expect_error, expect_reason, expect_status, pair_of, spawn_app_with, unique_email, Backend,
    TestApp, PASSWORD,
};
use crate::smtp::SmtpServer;

pub const NEW_PASSWORD: &str = "copper-Lantern-Meadow-58";

/// authd delivering to `smtp`, with the send limits off unless a test sets them.
pub async fn spawn_with_smtp(
    backend: Backend,
    smtp: &SmtpServer,
    customise: impl FnOnce(&mut authd::config::Settings),
) -> Option<TestApp> {
    let url = smtp.url();
    spawn_app_with(backend, move |s| {
        s.email.enabled = true;
        s.email.smtp_url = secrecy::SecretString::from(url);
        s.email.link_base_url = "https://app.example".into();
        s.rate_limit.email_send_per_address = None;
        s.rate_limit.email_send_per_ip = None;
        customise(s);
    })
    .await
}

pub async fn post(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.post(path, &body).await
}

async fn registering_sends_a_verification_link_that_works_once(backend: Backend) {
    let Some(smtp) = SmtpServer::start(0) else {
        return;
    };
    let Some(app) = spawn_with_smtp(backend, &smtp, |_| {}).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let mail = smtp.wait_for(&account.email, 0).await;
    assert!(mail.subject.contains("Confirm your email"), "{mail:?}");
    assert!(
        mail.text
            .contains("https://app.example/auth/verify-email?token="),
        "{}",
        mail.text
    );
    let token = mail.token();
    let verified = expect_status(
        post(&app, "/api/auth/email/verify", json!({ "token": token })).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(verified["emailVerified"], true);
    let me = expect_status(
        app.get_with_bearer("/api/auth/me", &account.access).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["emailVerified"], true);
    assert!(crate::audit::event_types_of(&app, &account.id).contains(&"email.verified".to_owned()));
    expect_error(
        post(&app, "/api/auth/email/verify", json!({ "token": token })).await,
        StatusCode::BAD_REQUEST,
        "token_used",
    )
    .await;
    expect_error(
        post(
            &app,
            "/api/auth/email/verify",
            json!({ "token": "made-up" }),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "token_invalid",
    )
    .await;
    // Verified: asking again sends nothing.
    let again = app
        .post_with_bearer("/api/auth/email/verify/send", &account.access, &json!({}))
        .await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(smtp.messages().len(), 1);
}

async fn a_password_reset_signs_in_with_the_new_password_and_ends_other_sessions(backend: Backend) {
    let Some(smtp) = SmtpServer::start(0) else {
        return;
    };
    let Some(app) = spawn_with_smtp(backend, &smtp, |_| {}).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    // The verification message first: messages due together may arrive in either order.
    smtp.wait_for(&account.email, 0).await;
    let reset = post(
        &app,
        "/api/auth/password/reset",
        json!({ "email": account.email.to_uppercase() }),
    )
    .await;
    assert_eq!(reset.status(), StatusCode::ACCEPTED);
    let mail = smtp.wait_for(&account.email, 1).await;
    assert!(mail.subject.contains("Reset your"), "{mail:?}");
    let token = mail.token();
    // The policy applies, and a refused password does not use the token up.
    let weak = post(
        &app,
        "/api/auth/password/reset/confirm",
        json!({ "token": token, "newPassword": "password" }),
    )
    .await;
    let body = expect_error(weak, StatusCode::BAD_REQUEST, "validation_error").await;
    assert!(body["details"]["newPassword"].is_array(), "{body}");
    let done = expect_status(
        post(
            &app,
            "/api/auth/password/reset/confirm",
            json!({ "token": token, "newPassword": NEW_PASSWORD }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(done["user"]["emailVerified"], true);
    let (access, _) = pair_of(&done);
    expect_status(
        app.get_with_bearer("/api/auth/me", &access).await,
        StatusCode::OK,
    )
    .await;
    // Every earlier session ended; the old password is gone, the new one works.
    expect_error(
        app.refresh(&account.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    expect_error(
        app.login(&account.email, PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    expect_status(
        app.login(&account.email, NEW_PASSWORD).await,
        StatusCode::OK,
    )
    .await;
    let events = crate::audit::event_types_of(&app, &account.id);
    let reset = events
        .iter()
        .position(|t| t == "password.reset")
        .expect("no password.reset");
    assert_eq!(events[reset + 1], "login.succeeded", "{events:?}");
    expect_error(
        post(
            &app,
            "/api/auth/password/reset/confirm",
            json!({ "token": token, "newPassword": NEW_PASSWORD }),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "token_used",
    )
    .await;

    // dj-rest-auth's spelling.
    post(
        &app,
        "/api/auth/password/reset/",
        json!({ "email": account.email }),
    )
    .await;
    let token = smtp.wait_for(&account.email, 2).await.token();
    let mismatch = json!({ "uid": "x", "token": token, "new_password1": "violet-Tractor-43", "new_password2": "other" });
    expect_error(
        post(&app, "/api/auth/password/reset/confirm/", mismatch).await,
        StatusCode::BAD_REQUEST,
        "validation_error",
    )
    .await;
    let django = json!({ "uid": "x", "token": token, "new_password1": "violet-Tractor-43", "new_password2": "violet-Tractor-43" });
    expect_status(
        post(&app, "/api/auth/password/reset/confirm/", django).await,
        StatusCode::OK,
    )
    .await;
}

/// A reset link dies when the password changes; a token works only for its purpose.
async fn a_reset_token_dies_with_the_password_and_serves_one_purpose(backend: Backend) {
    let Some(smtp) = SmtpServer::start(0) else {
        return;
    };
    let Some(app) = spawn_with_smtp(backend, &smtp, |_| {}).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let verification = smtp.wait_for(&account.email, 0).await.token();
    post(
        &app,
        "/api/auth/password/reset",
        json!({ "email": account.email }),
    )
    .await;
    let token = smtp.wait_for(&account.email, 1).await.token();
    let wrong_purpose = post(
        &app,
        "/api/auth/password/reset/confirm",
        json!({ "token": verification, "newPassword": NEW_PASSWORD }),
    )
    .await;
    expect_reason(
        wrong_purpose,
        StatusCode::BAD_REQUEST,
        "token_invalid",
        "another purpose",
    )
    .await;
    let changed = app
        .post_with_bearer(
            "/api/auth/password",
            &account.access,
            &json!({ "currentPassword": PASSWORD, "newPassword": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    let stale = post(
        &app,
        "/api/auth/password/reset/confirm",
        json!({ "token": token, "newPassword": "violet-Tractor-43" }),
    )
    .await;
    expect_reason(
        stale,
        StatusCode::BAD_REQUEST,
        "token_invalid",
        "password changed",
    )
    .await;
}

async fn an_expired_link_is_refused(backend: Backend) {
    let Some(smtp) = SmtpServer::start(0) else {
        return;
    };
    let Some(app) = spawn_with_smtp(backend, &smtp, |s| s.email.verification_ttl_secs = 1).await
    else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let token = smtp.wait_for(&account.email, 0).await.token();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    expect_error(
        post(&app, "/api/auth/email/verify", json!({ "token": token })).await,
        StatusCode::BAD_REQUEST,
        "token_expired",
    )
    .await;
}

/// 202 either way, nothing sent to an address without an account, and the same time.
async fn a_reset_for_an_unknown_address_looks_the_same(backend: Backend) {
    let Some(smtp) = SmtpServer::start(0) else {
        return;
    };
    let Some(app) = spawn_with_smtp(backend, &smtp, |_| {}).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    smtp.wait_for(&account.email, 0).await;
    let nobody = unique_email();
    // Interleaved, so that both see the same load from the work done after each answer.
    let (mut known, mut unknown) = (0.0, 0.0);
    for _ in 0..20 {
        for (email, total) in [(&account.email, &mut known), (&nobody, &mut unknown)] {
            let started = std::time::Instant::now();
            let response = post(&app, "/api/auth/password/reset", json!({ "email": email })).await;
            *total += started.elapsed().as_secs_f64() / 20.0;
            assert_eq!(response.status(), StatusCode::ACCEPTED);
            assert_eq!(response.text().await.unwrap(), "{}");
        }
    }
    assert!(
        (unknown - known).abs() <= 0.2 * known.max(unknown) + 0.002,
        "known {:.2} ms, unknown {:.2} ms",
        known * 1000.0,
        unknown * 1000.0
    );
    smtp.wait_for(&account.email, 20).await;
    assert!(smtp
        .messages()
        .iter()
        .all(|m| !m.to.eq_ignore_ascii_case(&nobody)));
}

crate::on_both_backends!(
    registering_sends_a_verification_link_that_works_once,
    a_password_reset_signs_in_with_the_new_password_and_ends_other_sessions,
    a_reset_token_dies_with_the_password_and_serves_one_purpose,
    an_expired_link_is_refused,
    a_reset_for_an_unknown_address_looks_the_same,
    sends_are_limited_and_verification_can_be_required,
    an_admin_invites_a_user_who_sets_their_own_password,
);

/// `POST /api/admin/users` with `invite`: no password, a reset link by email, and the person
/// sets their own password with it. Without email the invite is refused and nothing is made.
async fn an_admin_invites_a_user_who_sets_their_own_password(backend: Backend) {
    let Some(smtp) = SmtpServer::start(0) else {
        return;
    };
    let Some(app) = spawn_with_smtp(backend, &smtp, |_| {}).await else {
        return;
    };
    let admin = crate::admin::staff(&app).await;
    smtp.wait_for(&admin.email, 0).await;
    let email = unique_email();
    let created = crate::admin::call(
        &app,
        reqwest::Method::POST,
        "/api/admin/users",
        Some(&admin.access),
        Some(json!({ "email": email, "firstName": "Invited", "invite": true })),
    )
    .await;
    let created = expect_status(created, StatusCode::CREATED).await;
    assert_eq!(created["hasPassword"], false);
    expect_error(
        app.login(&email, PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let invite = smtp.wait_for(&email, 0).await;
    assert!(invite.subject.contains("Reset your"), "{invite:?}");
    let set = post(
        &app,
        "/api/auth/password/reset/confirm",
        json!({ "token": invite.token(), "newPassword": NEW_PASSWORD }),
    )
    .await;
    expect_status(set, StatusCode::OK).await;
    expect_status(app.login(&email, NEW_PASSWORD).await, StatusCode::OK).await;

    let Some(quiet) = spawn_app_with(backend, |s| s.email.enabled = false).await else {
        return;
    };
    let admin = crate::admin::staff(&quiet).await;
    let refused = crate::admin::call(
        &quiet,
        reqwest::Method::POST,
        "/api/admin/users",
        Some(&admin.access),
        Some(json!({ "email": unique_email(), "invite": true })),
    )
    .await;
    expect_error(refused, StatusCode::FORBIDDEN, "email_disabled").await;
}

/// Every send is limited per recipient (and per client address), the same for addresses with
/// and without an account; `email.require_verification` keeps unverified addresses out of
/// password login; with email off the routes say so.
async fn sends_are_limited_and_verification_can_be_required(backend: Backend) {
    let Some(smtp) = SmtpServer::start(0) else {
        return;
    };
    let Some(app) = spawn_with_smtp(backend, &smtp, |s| {
        s.rate_limit.email_send_per_address = authd::config::parse_quota("2/10m").unwrap();
        s.email.require_verification = true;
    })
    .await
    else {
        return;
    };
    for email in [unique_email(), app.register(&unique_email()).await.email] {
        for _ in 0..2 {
            let sent = post(&app, "/api/auth/password/reset", json!({ "email": email })).await;
            assert_eq!(sent.status(), StatusCode::ACCEPTED);
        }
        let limited = post(&app, "/api/auth/password/reset", json!({ "email": email })).await;
        assert!(limited.headers().contains_key("retry-after"));
        expect_error(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    }
    let account = app.register(&unique_email()).await;
    let unverified = app.login(&account.email, PASSWORD).await;
    expect_error(unverified, StatusCode::FORBIDDEN, "email_not_verified").await;
    let token = smtp.wait_for(&account.email, 0).await.token();
    expect_status(
        post(&app, "/api/auth/email/verify", json!({ "token": token })).await,
        StatusCode::OK,
    )
    .await;
    expect_status(app.login(&account.email, PASSWORD).await, StatusCode::OK).await;

    let Some(off) = spawn_app_with(backend, |s| s.email.enabled = false).await else {
        return;
    };
    let refused = post(
        &off,
        "/api/auth/password/reset",
        json!({ "email": account.email }),
    )
    .await;
    expect_error(refused, StatusCode::FORBIDDEN, "email_disabled").await;
}
