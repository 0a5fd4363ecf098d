//! What the seed SPAs (written against Django REST framework) send, answered unchanged: PUT
//! for profile updates, snake_case names, and a password confirmation at registration.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{expect_error, expect_status, spawn_app, unique_email, Backend, PASSWORD};

crate::on_both_backends!(
    put_updates_the_profile_at_every_alias,
    a_password_confirmation_must_match_under_the_name_sent,
);

async fn put_updates_the_profile_at_every_alias(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    for (path, first) in [
        ("/api/auth/me", "Ann"),
        ("/api/auth/user", "Bea"),
        ("/api/auth/profile/", "Cy"),
    ] {
        let response = app
            .client
            .put(app.url(path))
            .bearer_auth(&account.access)
            .json(&json!({ "first_name": first, "last_name": "Lee" }))
            .send()
            .await
            .unwrap();
        let user = expect_status(response, StatusCode::OK).await;
        assert_eq!(
            (user["firstName"].as_str(), user["lastName"].as_str()),
            (Some(first), Some("Lee"))
        );
    }
    // As PATCH: a bad field changes nothing.
    let bad = app
        .client
        .put(app.url("/api/auth/me"))
        .bearer_auth(&account.access)
        .json(&json!({ "first_name": "x\u{0}y" }))
        .send()
        .await
        .unwrap();
    expect_error(bad, StatusCode::BAD_REQUEST, "validation_error").await;
    let me = expect_status(
        app.get_with_bearer("/api/auth/me", &account.access).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["firstName"], "Cy");
    // A browser on the SPA's origin may send PUT.
    let preflight = app
        .client
        .request(Method::OPTIONS, app.url("/api/auth/me"))
        .header("Origin", "http://localhost:5173")
        .header("Access-Control-Request-Method", "PUT")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::OK);
    let methods = preflight.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(methods.contains("PUT"), "{methods}");
}

async fn a_password_confirmation_must_match_under_the_name_sent(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    for field in ["password2", "passwordConfirm", "password_confirm"] {
        let email = unique_email();
        let mismatch = app
            .post(
                "/api/auth/register",
                &json!({ "email": email, "password": PASSWORD, field: "something-else-1" }),
            )
            .await;
        let body = expect_error(mismatch, StatusCode::BAD_REQUEST, "validation_error").await;
        let reported = if field == "password2" {
            "password2"
        } else {
            "passwordConfirm"
        };
        assert!(body["details"][reported].is_array(), "{field}: {body}");
        // Nothing was created: the same email registers afterwards.
        let same = app
            .post("/api/auth/register", &json!({ "email": email, "password": PASSWORD, field: PASSWORD, "first_name": "Ann" }))
            .await;
        let created = expect_status(same, StatusCode::CREATED).await;
        assert_eq!(created["user"]["firstName"], "Ann");
    }
    // dj-rest-auth's registration form: password1 and password2.
    let form =
        json!({ "email": unique_email(), "password1": PASSWORD, "password2": "other-Pass-99" });
    let mismatch = app.post("/api/auth/register/", &form).await;
    let body = expect_error(mismatch, StatusCode::BAD_REQUEST, "validation_error").await;
    assert!(body["details"]["password2"].is_array(), "{body}");
    let form = json!({ "email": unique_email(), "password1": PASSWORD, "password2": PASSWORD });
    expect_status(
        app.post("/api/auth/register/", &form).await,
        StatusCode::CREATED,
    )
    .await;
}
