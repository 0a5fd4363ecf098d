//! Sign-in by emailed link or code, and email change, against a real SMTP server; and that a
//! token serves only the account it was sent for.

use reqwest::StatusCode;
use serde_json::json;

use crate::email::{post, spawn_with_smtp};
use crate::helpers::{expect_error, expect_reason, expect_status, unique_email, Backend, PASSWORD};
use crate::smtp::SmtpServer;

async fn sign_in_by_link_or_by_code(backend: Backend) {
    let Some(smtp) = SmtpServer::start(0) else {
        return;
    };
    let Some(app) = spawn_with_smtp(backend, &smtp, |_| {}).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    smtp.wait_for(&account.email, 0).await;
    // By link.
    assert_eq!(
        post(
            &app,
            "/api/auth/email/signin",
            json!({ "email": account.email })
        )
        .await
        .status(),
        StatusCode::ACCEPTED
    );
    let mail = smtp.wait_for(&account.email, 1).await;
    let body = expect_status(
        post(
            &app,
            "/api/auth/email/signin/confirm",
            json!({ "token": mail.token() }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["user"]["id"], account.id.as_str());
    assert_eq!(body["user"]["emailVerified"], true);
    assert_eq!(current_method(&app, &body).await, "email-link");
    // By code; the link of that message is then used up too.
    post(
        &app,
        "/api/auth/email/signin",
        json!({ "email": account.email }),
    )
    .await;
    let mail = smtp.wait_for(&account.email, 2).await;
    let code = mail.code();
    assert_eq!(code.len(), 6);
    let by_code = post(
        &app,
        "/api/auth/email/signin/confirm",
        json!({ "email": account.email.to_uppercase(), "code": code }),
    )
    .await;
    let by_code = expect_status(by_code, StatusCode::OK).await;
    assert_eq!(current_method(&app, &by_code).await, "email-code");
    expect_error(
        post(
            &app,
            "/api/auth/email/signin/confirm",
            json!({ "token": mail.token() }),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "token_used",
    )
    .await;
    // Five wrong codes and the right one no longer works.
    post(
        &app,
        "/api/auth/email/signin",
        json!({ "email": account.email }),
    )
    .await;
    let code = smtp.wait_for(&account.email, 3).await.code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        let attempt = post(
            &app,
            "/api/auth/email/signin/confirm",
            json!({ "email": account.email, "code": wrong }),
        )
        .await;
        expect_error(attempt, StatusCode::BAD_REQUEST, "token_invalid").await;
    }
    let too_late = post(
        &app,
        "/api/auth/email/signin/confirm",
        json!({ "email": account.email, "code": code }),
    )
    .await;
    expect_error(too_late, StatusCode::BAD_REQUEST, "token_invalid").await;
    // An address without an account: 202, no message, and no code works.
    let nobody = unique_email();
    assert_eq!(
        post(&app, "/api/auth/email/signin", json!({ "email": nobody }))
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    expect_error(
        post(
            &app,
            "/api/auth/email/signin/confirm",
            json!({ "email": nobody, "code": "123456" }),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "token_invalid",
    )
    .await;
}

async fn an_email_change_waits_for_the_new_address(backend: Backend) {
    let Some(smtp) = SmtpServer::start(0) else {
        return;
    };
    let Some(app) = spawn_with_smtp(backend, &smtp, |_| {}).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    smtp.wait_for(&account.email, 0).await;
    let (other_access, other_refresh) = app.login_pair(&account.email).await;
    let new_email = unique_email();
    let wrong = app
        .post_with_bearer(
            "/api/auth/email/change",
            &account.access,
            &json!({ "newEmail": new_email, "currentPassword": "wrong-Password-1" }),
        )
        .await;
    expect_error(wrong, StatusCode::BAD_REQUEST, "validation_error").await;
    let taken = app.register(&unique_email()).await;
    let clash = app
        .post_with_bearer(
            "/api/auth/email/change",
            &account.access,
            &json!({ "newEmail": taken.email, "currentPassword": PASSWORD }),
        )
        .await;
    expect_error(clash, StatusCode::CONFLICT, "email_taken").await;
    let asked = app
        .post_with_bearer(
            "/api/auth/email/change",
            &account.access,
            &json!({ "newEmail": new_email, "currentPassword": PASSWORD }),
        )
        .await;
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    let confirmation = smtp.wait_for(&new_email, 0).await;
    let notice = smtp.wait_for(&account.email, 1).await;
    assert!(notice.text.contains(&new_email), "{notice:?}");
    // Nothing changed yet.
    expect_status(app.login(&account.email, PASSWORD).await, StatusCode::OK).await;
    let confirmed = app
        .post_with_bearer(
            "/api/auth/email/change/confirm",
            &account.access,
            &json!({ "token": confirmation.token() }),
        )
        .await;
    let user = expect_status(confirmed, StatusCode::OK).await;
    assert_eq!(user["email"], new_email.as_str());
    assert_eq!(user["emailVerified"], true);
    let events = crate::audit::event_types_of(&app, &account.id);
    assert!(events.contains(&"email.changed".to_owned()), "{events:?}");
    let all = serde_json::to_string(&crate::audit::event_types_of(&app, &account.id)).unwrap();
    assert!(!all.contains(&new_email));
    expect_error(
        app.login(&account.email, PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    expect_status(app.login(&new_email, PASSWORD).await, StatusCode::OK).await;
    // The confirming session stays; the others ended.
    expect_status(
        app.get_with_bearer("/api/auth/me", &account.access).await,
        StatusCode::OK,
    )
    .await;
    expect_error(
        app.get_with_bearer("/api/auth/me", &other_access).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    expect_error(
        app.refresh(&other_refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
}

/// The sign-in method the session list shows for the session of a login body.
async fn current_method(app: &crate::helpers::TestApp, body: &serde_json::Value) -> String {
    let (access, _) = crate::helpers::pair_of(body);
    let sessions = expect_status(
        app.get_with_bearer("/api/auth/sessions", &access).await,
        StatusCode::OK,
    )
    .await;
    let current = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true);
    current.expect("the current session")["method"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A code typed with another address, a change confirmed while signed in as someone else, a
/// verification link after the address changed: each refused, and nothing changes.
async fn a_token_serves_only_its_own_account(backend: Backend) {
    let Some(smtp) = SmtpServer::start(0) else {
        return;
    };
    let Some(app) = spawn_with_smtp(backend, &smtp, |_| {}).await else {
        return;
    };
    let ann = app.register(&unique_email()).await;
    let bob = app.register(&unique_email()).await;
    let ann_verification = smtp.wait_for(&ann.email, 0).await.token();
    smtp.wait_for(&bob.email, 0).await;

    // Ann's code, typed with Bob's address: no code is waiting for Bob.
    post(
        &app,
        "/api/auth/email/signin",
        json!({ "email": ann.email }),
    )
    .await;
    let ann_code = smtp.wait_for(&ann.email, 1).await.code();
    let crossed = post(
        &app,
        "/api/auth/email/signin/confirm",
        json!({ "email": bob.email, "code": ann_code }),
    )
    .await;
    expect_error(crossed, StatusCode::BAD_REQUEST, "token_invalid").await;

    // Ann's change confirmed in a browser where Bob is signed in: refused, and still usable.
    let new_email = unique_email();
    let asked = app
        .post_with_bearer(
            "/api/auth/email/change",
            &ann.access,
            &json!({ "newEmail": new_email, "currentPassword": PASSWORD }),
        )
        .await;
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    let change = smtp.wait_for(&new_email, 0).await.token();
    let as_bob = app
        .post_with_bearer(
            "/api/auth/email/change/confirm",
            &bob.access,
            &json!({ "token": change }),
        )
        .await;
    expect_reason(
        as_bob,
        StatusCode::BAD_REQUEST,
        "token_invalid",
        "another account",
    )
    .await;
    expect_status(
        app.get_with_bearer("/api/auth/me", &bob.access).await,
        StatusCode::OK,
    )
    .await;
    expect_status(app.login(&ann.email, PASSWORD).await, StatusCode::OK).await;
    let confirmed = post(
        &app,
        "/api/auth/email/change/confirm",
        json!({ "token": change }),
    )
    .await;
    assert_eq!(
        expect_status(confirmed, StatusCode::OK).await["email"],
        new_email.as_str()
    );
    // Without a bearer token every session of Ann ended, and Bob's did not.
    expect_error(
        app.get_with_bearer("/api/auth/me", &ann.access).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    expect_status(
        app.get_with_bearer("/api/auth/me", &bob.access).await,
        StatusCode::OK,
    )
    .await;

    // The verification link sent to Ann's old address died with it.
    let stale = post(
        &app,
        "/api/auth/email/verify",
        json!({ "token": ann_verification }),
    )
    .await;
    expect_reason(
        stale,
        StatusCode::BAD_REQUEST,
        "token_invalid",
        "email changed",
    )
    .await;
}

crate::on_both_backends!(
    sign_in_by_link_or_by_code,
    an_email_change_waits_for_the_new_address,
    a_token_serves_only_its_own_account,
);
