use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    expect_error, expect_reason, expect_status, pair_of, spawn_app, spawn_app_with, unique_email,
    Backend,
};

async fn refresh_rotates_the_pair(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.jwt.refresh_reuse_grace_secs = 0).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let body = expect_status(app.refresh(&account.refresh).await, StatusCode::OK).await;
    let (access, refresh) = pair_of(&body);
    assert_ne!(refresh, account.refresh);
    assert_eq!(body["tokenType"], "Bearer");
    assert!(body.get("user").is_none());
    expect_status(
        app.get_with_bearer("/api/auth/me", &access).await,
        StatusCode::OK,
    )
    .await;
    // The simplejwt path and a chain of rotations work.
    let again = app
        .post("/api/auth/token/refresh/", &json!({ "refresh": refresh }))
        .await;
    expect_status(again, StatusCode::OK).await;
}

async fn twenty_concurrent_refreshes_have_exactly_one_winner(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.jwt.refresh_reuse_grace_secs = 0).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let attempts = (0..20).map(|_| app.refresh(&account.refresh));
    let responses = futures::future::join_all(attempts).await;
    let statuses: Vec<StatusCode> = responses.iter().map(|r| r.status()).collect();
    let winners = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(winners, 1, "statuses: {statuses:?}");
    assert!(statuses
        .iter()
        .all(|s| *s == StatusCode::OK || *s == StatusCode::UNAUTHORIZED));
}

async fn reuse_after_rotation_revokes_the_whole_session(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.jwt.refresh_reuse_grace_secs = 0).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let (access2, refresh2) =
        pair_of(&expect_status(app.refresh(&account.refresh).await, StatusCode::OK).await);
    let (_, refresh3) = pair_of(&expect_status(app.refresh(&refresh2).await, StatusCode::OK).await);
    // The first token comes back: stolen. The whole session ends.
    expect_error(
        app.refresh(&account.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_reused",
    )
    .await;
    expect_error(
        app.refresh(&refresh3).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    expect_error(
        app.get_with_bearer("/api/auth/me", &access2).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    // Other sessions of the same user are untouched.
    let (_, other) = app.login_pair(&account.email).await;
    expect_status(app.refresh(&other).await, StatusCode::OK).await;
}

async fn a_retry_within_the_grace_period_gets_the_same_pair_and_reuse_after_it_ends_the_session(
    backend: Backend,
) {
    let Some(app) = spawn_app_with(backend, |s| s.jwt.refresh_reuse_grace_secs = 2).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let first = expect_status(app.refresh(&account.refresh).await, StatusCode::OK).await;
    for _ in 0..5 {
        let retry = expect_status(app.refresh(&account.refresh).await, StatusCode::OK).await;
        assert_eq!(
            pair_of(&retry),
            pair_of(&first),
            "a retry must get the very same pair"
        );
    }
    // The window is over: this is reuse, and the session ends.
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    expect_error(
        app.refresh(&account.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_reused",
    )
    .await;
    let (_, refresh2) = pair_of(&first);
    expect_error(
        app.refresh(&refresh2).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
}

/// Fifty tabs refresh the same token at once (default grace): every one gets the one new pair
/// and the session lives on. With a count of replays the fifth used to end the session.
async fn fifty_tabs_refreshing_at_once_all_get_the_same_pair(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let attempts = (0..50).map(|_| app.refresh(&account.refresh));
    let mut pairs = std::collections::BTreeSet::new();
    for response in futures::future::join_all(attempts).await {
        pairs.insert(pair_of(&expect_status(response, StatusCode::OK).await));
    }
    assert_eq!(pairs.len(), 1, "more than one pair was issued");
    let (access, refresh) = pairs.into_iter().next().unwrap();
    expect_status(
        app.get_with_bearer("/api/auth/me", &access).await,
        StatusCode::OK,
    )
    .await;
    expect_status(app.refresh(&refresh).await, StatusCode::OK).await;
}

async fn an_expired_refresh_token_is_refused(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| {
        s.jwt.refresh_ttl_secs = 1;
        s.jwt.leeway_secs = 0;
    })
    .await
    else {
        return;
    };
    let account = app.register(&unique_email()).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    expect_error(
        app.refresh(&account.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_expired",
    )
    .await;
}

async fn tokens_cannot_pass_as_each_other(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    expect_reason(
        app.refresh(&account.access).await,
        StatusCode::UNAUTHORIZED,
        "token_invalid",
        "refresh",
    )
    .await;
    let me = app.get_with_bearer("/api/auth/me", &account.refresh).await;
    expect_error(me, StatusCode::UNAUTHORIZED, "token_invalid").await;
    let verify = app
        .post(
            "/api/auth/token/verify",
            &json!({ "token": account.refresh }),
        )
        .await;
    expect_error(verify, StatusCode::UNAUTHORIZED, "token_invalid").await;
    // Neither refused attempt consumed the refresh token.
    expect_status(app.refresh(&account.refresh).await, StatusCode::OK).await;
}

/// Refreshing no longer slides a session forever: `jwt.session_max_secs` ends it a fixed time
/// after the login, `jwt.session_idle_secs` when it goes unused that long.
async fn sessions_end_at_their_absolute_and_idle_limits(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.jwt.session_max_secs = 2).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let (access, refresh) =
        pair_of(&expect_status(app.refresh(&account.refresh).await, StatusCode::OK).await);
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    expect_reason(
        app.refresh(&refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_expired",
        "session_max_secs",
    )
    .await;
    expect_reason(
        app.get_with_bearer("/api/auth/me", &access).await,
        StatusCode::UNAUTHORIZED,
        "token_expired",
        "session_max_secs",
    )
    .await;
    // A new login is a new session.
    let (_, fresh) = app.login_pair(&account.email).await;
    expect_status(app.refresh(&fresh).await, StatusCode::OK).await;

    // iat has whole seconds: 3 s idle is certainly passed after 4.2 s, never after 1 s.
    let Some(app) = spawn_app_with(backend, |s| s.jwt.session_idle_secs = 3).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let mut refresh = account.refresh;
    for _ in 0..2 {
        tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
        let body = expect_status(app.refresh(&refresh).await, StatusCode::OK).await;
        refresh = pair_of(&body).1;
    }
    tokio::time::sleep(std::time::Duration::from_millis(4200)).await;
    expect_reason(
        app.refresh(&refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_expired",
        "session_idle_secs",
    )
    .await;
}

crate::on_both_backends!(
    sessions_end_at_their_absolute_and_idle_limits,
    refresh_rotates_the_pair,
    twenty_concurrent_refreshes_have_exactly_one_winner,
    reuse_after_rotation_revokes_the_whole_session,
    a_retry_within_the_grace_period_gets_the_same_pair_and_reuse_after_it_ends_the_session,
    fifty_tabs_refreshing_at_once_all_get_the_same_pair,
    an_expired_refresh_token_is_refused,
    tokens_cannot_pass_as_each_other,
);
