use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{expect_error, expect_status, spawn_app, unique_email, Backend};

async fn logout_ends_the_session_and_is_idempotent(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let (_, other_session) = app.login_pair(&account.email).await;
    for _ in 0..2 {
        let response = app
            .post("/api/auth/logout", &json!({ "refresh": account.refresh }))
            .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    expect_error(
        app.refresh(&account.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    let me = app.get_with_bearer("/api/auth/me", &account.access).await;
    expect_error(me, StatusCode::UNAUTHORIZED, "token_revoked").await;
    // The replayed logout ended nothing, so it recorded nothing: a refresh token cannot be
    // replayed to grow the audit log.
    let logouts = crate::audit::event_types_of(&app, &account.id)
        .into_iter()
        .filter(|t| t == "logout")
        .count();
    assert_eq!(logouts, 1);
    // Only that session ended; the simplejwt path works too.
    let blacklist = app
        .post(
            "/api/auth/token/blacklist/",
            &json!({ "refresh": other_session }),
        )
        .await;
    assert_eq!(blacklist.status(), StatusCode::NO_CONTENT);
    expect_error(
        app.refresh(&other_session).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
}

async fn logout_all_needs_a_bearer_token_and_ends_every_session(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let (access2, refresh2) = app.login_pair(&account.email).await;
    let bystander = app.register(&unique_email()).await;

    let without_bearer = app
        .post(
            "/api/auth/logout",
            &json!({ "refresh": account.refresh, "all": true }),
        )
        .await;
    expect_error(
        without_bearer,
        StatusCode::UNAUTHORIZED,
        "not_authenticated",
    )
    .await;
    expect_status(app.refresh(&account.refresh).await, StatusCode::OK).await;

    let someone_elses = app
        .post_with_bearer(
            "/api/auth/logout",
            &bystander.access,
            &json!({ "refresh": refresh2, "all": true }),
        )
        .await;
    expect_error(someone_elses, StatusCode::UNAUTHORIZED, "token_invalid").await;

    let response = app
        .post_with_bearer(
            "/api/auth/logout",
            &access2,
            &json!({ "refresh": refresh2, "all": true }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    expect_error(
        app.refresh(&refresh2).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    let me = app.get_with_bearer("/api/auth/me", &account.access).await;
    expect_error(me, StatusCode::UNAUTHORIZED, "token_revoked").await;
    expect_status(app.refresh(&bystander.refresh).await, StatusCode::OK).await;
}

async fn logout_refuses_what_is_not_a_refresh_token(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let bad = app
        .post("/api/auth/logout", &json!({ "refresh": "not.a.token" }))
        .await;
    expect_error(bad, StatusCode::UNAUTHORIZED, "token_invalid").await;
    let access = app
        .post("/api/auth/logout", &json!({ "refresh": account.access }))
        .await;
    expect_error(access, StatusCode::UNAUTHORIZED, "token_invalid").await;
    let missing = app.post("/api/auth/logout", &json!({})).await;
    expect_error(missing, StatusCode::BAD_REQUEST, "validation_error").await;
    expect_status(app.refresh(&account.refresh).await, StatusCode::OK).await;
}

/// After a password change, an attacker's leftover access token (its session ended by the
/// change) cannot log the owner out of the sessions started since.
async fn logout_all_needs_a_live_session(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let stolen_access = account.access.clone();
    let (owner_access, _) = app.login_pair(&account.email).await;
    let changed = app
        .post_with_bearer(
            "/api/auth/password",
            &owner_access,
            &json!({ "currentPassword": crate::helpers::PASSWORD, "newPassword": "copper-Lantern-Meadow-58" }),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    let new_session = app.login(&account.email, "copper-Lantern-Meadow-58").await;
    let (_, new_refresh) =
        crate::helpers::pair_of(&expect_status(new_session, StatusCode::OK).await);

    let attack = app
        .post_with_bearer("/api/auth/logout", &stolen_access, &json!({ "all": true }))
        .await;
    expect_error(attack, StatusCode::UNAUTHORIZED, "token_revoked").await;
    expect_status(app.refresh(&new_refresh).await, StatusCode::OK).await;
}

crate::on_both_backends!(
    logout_all_needs_a_live_session,
    logout_ends_the_session_and_is_idempotent,
    logout_all_needs_a_bearer_token_and_ends_every_session,
    logout_refuses_what_is_not_a_refresh_token,
);
