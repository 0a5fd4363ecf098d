use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{expect_error, expect_status, spawn_app, unique_email, Backend, PASSWORD};

const NEW_PASSWORD: &str = "amber-Lighthouse-77";

async fn changing_the_password_ends_every_other_session(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let (_, other_refresh) = app.login_pair(&account.email).await;
    let change = |current: &str, new: &str| {
        let body = json!({ "currentPassword": current, "newPassword": new });
        let request = app
            .client
            .post(app.url("/api/auth/password"))
            .bearer_auth(&account.access)
            .json(&body);
        async move { request.send().await.unwrap() }
    };
    let wrong = expect_error(
        change("violet-Tractor-43", NEW_PASSWORD).await,
        StatusCode::BAD_REQUEST,
        "validation_error",
    )
    .await;
    assert!(wrong["details"]["currentPassword"].is_array());
    let weak = expect_error(
        change(PASSWORD, "password1").await,
        StatusCode::BAD_REQUEST,
        "validation_error",
    )
    .await;
    assert!(weak["details"]["newPassword"].is_array());
    // Neither refusal changed anything.
    expect_status(app.login(&account.email, PASSWORD).await, StatusCode::OK).await;

    assert_eq!(
        change(PASSWORD, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
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
    expect_error(
        app.refresh(&other_refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    // The session that made the change goes on.
    expect_status(app.refresh(&account.refresh).await, StatusCode::OK).await;
}

async fn changing_the_password_needs_a_bearer_token(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let body = json!({ "currentPassword": PASSWORD, "newPassword": NEW_PASSWORD });
    expect_error(
        app.post("/api/auth/password", &body).await,
        StatusCode::UNAUTHORIZED,
        "not_authenticated",
    )
    .await;
}

crate::on_both_backends!(
    changing_the_password_ends_every_other_session,
    changing_the_password_needs_a_bearer_token,
);
