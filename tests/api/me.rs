use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{expect_error, expect_status, spawn_app, unique_email, Backend};

async fn me_answers_at_every_alias(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    for path in [
        "/api/auth/me",
        "/api/auth/me/",
        "/api/auth/user/",
        "/api/auth/profile",
        "//api//auth/user//",
        "/api/auth/me/?fields=all",
    ] {
        let body = expect_status(
            app.get_with_bearer(path, &account.access).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(body["id"], account.id.as_str(), "{path}");
        assert_eq!(body["email"], account.email.as_str());
        for key in [
            "username",
            "firstName",
            "lastName",
            "phone",
            "emailVerified",
            "isActive",
            "isStaff",
            "createdAt",
            "updatedAt",
        ] {
            assert!(body.get(key).is_some(), "{path}: no {key} in {body}");
        }
    }
}

async fn patch_changes_the_profile_and_nothing_on_bad_input(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let patch = |body: serde_json::Value| {
        app.client
            .patch(app.url("/api/auth/me"))
            .bearer_auth(&account.access)
            .json(&body)
            .send()
    };
    let body = expect_status(
        patch(json!({ "firstName": "Eve", "lastName": "Moss", "phone": "+1 555 0100", "username": "eve" })).await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (body["firstName"].as_str(), body["username"].as_str()),
        (Some("Eve"), Some("eve"))
    );

    let bad = patch(json!({ "firstName": "Changed", "phone": "call me" }))
        .await
        .unwrap();
    let error = expect_error(bad, StatusCode::BAD_REQUEST, "validation_error").await;
    assert!(error["details"]["phone"].is_array());
    let now = expect_status(
        app.get_with_bearer("/api/auth/me", &account.access).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(now["firstName"], "Eve", "a refused PATCH changed something");

    let other = app.register(&unique_email()).await;
    let taken = app
        .client
        .patch(app.url("/api/auth/me"))
        .bearer_auth(&other.access)
        .json(&json!({ "username": "EVE" }))
        .send()
        .await
        .unwrap();
    expect_error(taken, StatusCode::CONFLICT, "username_taken").await;

    let cleared = expect_status(
        patch(json!({ "username": null })).await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(cleared["username"].is_null());
    assert_eq!(cleared["lastName"], "Moss");
}

async fn each_bad_authorization_header_has_its_own_401(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let me = app.url("/api/auth/me");
    let missing = app.client.get(&me).send().await.unwrap();
    let challenge = missing.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    expect_error(missing, StatusCode::UNAUTHORIZED, "not_authenticated").await;
    let cases = [
        (
            format!("Basic {}", account.access),
            "invalid_authorization_header",
        ),
        ("Bearer".to_owned(), "invalid_authorization_header"),
        (
            format!("Bearer {} extra", account.access),
            "invalid_authorization_header",
        ),
        ("Bearer not-a-jwt".to_owned(), "token_invalid"),
    ];
    for (header, code) in cases {
        let response = app
            .client
            .get(&me)
            .header("Authorization", &header)
            .send()
            .await
            .unwrap();
        assert!(response.headers().contains_key("www-authenticate"));
        expect_error(response, StatusCode::UNAUTHORIZED, code).await;
    }
    let lower = app
        .client
        .get(&me)
        .header("Authorization", format!("bearer {}", account.access))
        .send()
        .await
        .unwrap();
    expect_status(lower, StatusCode::OK).await;
}

crate::on_both_backends!(
    me_answers_at_every_alias,
    patch_changes_the_profile_and_nothing_on_bad_input,
    each_bad_authorization_header_has_its_own_401,
);
