use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    claims_of, expect_error, expect_status, spawn_app, unique_email, Backend, PASSWORD,
};

async fn register_returns_a_pair_and_the_user(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let response = app
        .post(
            "/api/auth/register",
            &json!({
                "email": "Ann.Lee@Example.COM", "password": PASSWORD, "username": "annlee",
                "firstName": "Ann", "lastName": "Lee", "phone": "+44 20 7946 0958"
            }),
        )
        .await;
    let body = expect_status(response, StatusCode::CREATED).await;
    assert_eq!(body["tokenType"], "Bearer");
    // The time left, so a second may have ticked between issuing and answering.
    let left = |name: &str| body[name].as_i64().unwrap();
    assert!((899..=900).contains(&left("expiresIn")), "{body}");
    assert!(
        (604799..=604800).contains(&left("refreshExpiresIn")),
        "{body}"
    );
    let user = &body["user"];
    assert_eq!(user["email"], "Ann.Lee@example.com");
    assert_eq!(user["username"], "annlee");
    assert_eq!(user["firstName"], "Ann");
    assert_eq!(user["lastName"], "Lee");
    assert_eq!(user["phone"], "+44 20 7946 0958");
    assert_eq!(user["isActive"], true);
    assert_eq!(user["isStaff"], false);
    assert_eq!(user["emailVerified"], false);
    assert!(uuid::Uuid::parse_str(user["id"].as_str().unwrap()).is_ok());
    assert!(user["createdAt"].as_str().unwrap().ends_with('Z'));
    let claims = claims_of(body["access"].as_str().unwrap());
    assert_eq!(claims["sub"], user["id"]);
    assert_eq!(claims["exp"], body["expiresAt"]);
    // The new account can log in at once.
    expect_status(
        app.login("ann.lee@example.com", PASSWORD).await,
        StatusCode::OK,
    )
    .await;
}

async fn emails_are_unique_regardless_of_case(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.register("bob@example.com").await;
    let response = app
        .post(
            "/api/auth/register",
            &json!({ "email": "BOB@example.com", "password": PASSWORD }),
        )
        .await;
    expect_error(response, StatusCode::CONFLICT, "email_taken").await;
}

async fn usernames_are_unique(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let first = json!({ "email": unique_email(), "password": PASSWORD, "username": "Carol" });
    expect_status(
        app.post("/api/auth/register", &first).await,
        StatusCode::CREATED,
    )
    .await;
    let second = json!({ "email": unique_email(), "password": PASSWORD, "username": "carol" });
    expect_error(
        app.post("/api/auth/register", &second).await,
        StatusCode::CONFLICT,
        "username_taken",
    )
    .await;
}

async fn every_invalid_field_is_named_and_nothing_is_created(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let response = app
        .post(
            "/api/auth/register",
            &json!({ "email": "not-an-email", "password": "short", "phone": "call me", "username": "a b" }),
        )
        .await;
    let body = expect_error(response, StatusCode::BAD_REQUEST, "validation_error").await;
    for field in ["email", "password", "phone", "username"] {
        assert!(
            body["details"][field].is_array(),
            "{field} not reported in {body}"
        );
    }
    // A valid email with a bad password creates no account either.
    let email = unique_email();
    let response = app
        .post(
            "/api/auth/register",
            &json!({ "email": email, "password": "12345678901" }),
        )
        .await;
    expect_error(response, StatusCode::BAD_REQUEST, "validation_error").await;
    expect_error(
        app.login(&email, "12345678901").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    app.register(&email).await;
}

async fn password_policy_matches_djangos_validators(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let cases = [
        ("short7!", "too short"),
        ("84736251908", "numeric"),
        ("password123", "common"),
        ("margaret.foster9", "similar"),
    ];
    for (password, problem) in cases {
        let response = app
            .post(
                "/api/auth/register",
                &json!({ "email": "margaret.foster@example.com", "password": password }),
            )
            .await;
        let body = expect_error(response, StatusCode::BAD_REQUEST, "validation_error").await;
        let problems = body["details"]["password"].to_string();
        assert!(
            problems.contains(problem),
            "{password:?}: expected {problem:?} in {problems}"
        );
    }
    let too_long = "x".repeat(257);
    let response = app
        .post(
            "/api/auth/register",
            &json!({ "email": unique_email(), "password": too_long }),
        )
        .await;
    expect_error(response, StatusCode::BAD_REQUEST, "validation_error").await;
}

/// One canonical form for identities: a lookalike address is stored as the address it reads
/// as (so it neither logs in as nor squats someone else's), a fullwidth username is the plain
/// one, and invisible or text-direction characters are refused in names.
async fn identities_are_stored_in_one_unicode_form(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let kelvin = format!("\u{212A}ate{tag}@example.com");
    let body = expect_status(
        app.post(
            "/api/auth/register",
            &json!({ "email": kelvin, "password": PASSWORD, "username": format!("ａｎｎ{tag}") }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(body["user"]["email"], format!("Kate{tag}@example.com"));
    assert_eq!(body["user"]["username"], format!("ann{tag}"));
    let plain = app
        .post(
            "/api/auth/register",
            &json!({ "email": format!("kate{tag}@example.com"), "password": PASSWORD }),
        )
        .await;
    expect_error(plain, StatusCode::CONFLICT, "email_taken").await;
    let same_name = app
        .post(
            "/api/auth/register",
            &json!({ "email": unique_email(), "password": PASSWORD, "username": format!("ANN{tag}") }),
        )
        .await;
    expect_error(same_name, StatusCode::CONFLICT, "username_taken").await;
    expect_status(
        app.login(&format!("kate{tag}@example.com"), PASSWORD).await,
        StatusCode::OK,
    )
    .await;
    for (field, value) in [
        ("firstName", "Ann\u{202E}eeL"),
        ("lastName", "Lee\u{200B}"),
        ("username", "admin\u{200B}"),
    ] {
        let mut body = json!({ "email": unique_email(), "password": PASSWORD });
        body[field] = json!(value);
        let refused = app.post("/api/auth/register", &body).await;
        let body = expect_error(refused, StatusCode::BAD_REQUEST, "validation_error").await;
        assert!(body["details"][field].is_array(), "{body}");
    }
}

crate::on_both_backends!(
    identities_are_stored_in_one_unicode_form,
    register_returns_a_pair_and_the_user,
    emails_are_unique_regardless_of_case,
    usernames_are_unique,
    every_invalid_field_is_named_and_nothing_is_created,
    password_policy_matches_djangos_validators,
);
