use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{expect_error, expect_reason, spawn_app, unique_email, Backend, PASSWORD};

async fn bad_bodies_get_standard_errors_and_change_nothing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let email = unique_email();
    let register = app.url("/api/auth/register");
    let valid = json!({ "email": email, "password": PASSWORD }).to_string();

    let malformed = app
        .client
        .post(&register)
        .header("Content-Type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    expect_error(malformed, StatusCode::BAD_REQUEST, "invalid_json").await;

    let wrong_type = app
        .client
        .post(&register)
        .header("Content-Type", "text/plain")
        .body(valid.clone())
        .send()
        .await
        .unwrap();
    expect_error(
        wrong_type,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    let no_type = app.client.post(&register).body(valid).send().await.unwrap();
    expect_error(
        no_type,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    let huge = json!({ "email": email, "password": PASSWORD, "firstName": "x".repeat(70 * 1024) });
    expect_error(
        app.post("/api/auth/register", &huge).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;

    let mistyped = app
        .post(
            "/api/auth/register",
            &json!({ "email": email, "password": 12345678 }),
        )
        .await;
    let body = expect_error(mistyped, StatusCode::BAD_REQUEST, "validation_error").await;
    assert!(body["details"]["password"].is_array(), "{body}");
    assert!(
        !body.to_string().contains("12345678"),
        "the value sent is echoed: {body}"
    );

    let missing = app
        .post("/api/auth/register", &json!({ "password": PASSWORD }))
        .await;
    let body = expect_error(missing, StatusCode::BAD_REQUEST, "validation_error").await;
    assert!(body["details"]["email"].is_array(), "{body}");

    let not_an_object = app.post("/api/auth/register", &json!([email])).await;
    expect_error(not_an_object, StatusCode::BAD_REQUEST, "validation_error").await;

    // None of that created the account.
    expect_error(
        app.login(&email, PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
}

async fn unknown_paths_and_methods_get_json_errors(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let missing = app
        .client
        .get(app.url("/api/auth/nothing-here"))
        .send()
        .await
        .unwrap();
    expect_error(missing, StatusCode::NOT_FOUND, "not_found").await;
    let wrong_method = app
        .client
        .get(app.url("/api/auth/login/"))
        .send()
        .await
        .unwrap();
    expect_error(
        wrong_method,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}

/// Every token error says why in `details.reason`, as the README promises.
#[tokio::test]
async fn every_token_error_carries_a_reason() {
    let Some(app) = crate::helpers::spawn_app_with(Backend::Sqlite, |s| {
        s.jwt.refresh_reuse_grace_secs = 0;
        s.jwt.access_ttl_secs = 1;
        s.jwt.leeway_secs = 0;
    })
    .await
    else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let (_, refresh2) = crate::helpers::pair_of(
        &crate::helpers::expect_status(app.refresh(&account.refresh).await, StatusCode::OK).await,
    );
    let reused = app.refresh(&account.refresh).await;
    expect_reason(
        reused,
        StatusCode::UNAUTHORIZED,
        "token_reused",
        "exchanged",
    )
    .await;
    let revoked = app.refresh(&refresh2).await;
    expect_reason(
        revoked,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
        "token_reused",
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let expired = app.get_with_bearer("/api/auth/me", &account.access).await;
    expect_reason(expired, StatusCode::UNAUTHORIZED, "token_expired", "exp").await;
}

/// Every error code authd can answer with (`src/errors/`) is in the README's error table.
#[test]
fn every_error_code_is_documented() {
    let source = [
        include_str!("../../src/errors/mod.rs"),
        include_str!("../../src/errors/oidc.rs"),
        include_str!("../../src/errors/email.rs"),
        include_str!("../../src/errors/services.rs"),
    ]
    .concat();
    let readme = include_str!("../../README.md");
    let mut codes = Vec::new();
    // `Self::new(<status>, "code"` or `ApiError::new(status, "code"`, and the two shorthands.
    for marker in ["::new(", "Self::conflict(", "Self::forbidden("] {
        for (start, _) in source.match_indices(marker) {
            let rest = &source[start + marker.len()..];
            let rest = if marker == "::new(" {
                match rest.split_once(',') {
                    Some((_status, rest)) => rest,
                    None => continue,
                }
            } else {
                rest
            };
            if let Some((code, _)) = rest
                .trim_start()
                .strip_prefix('"')
                .and_then(|r| r.split_once('"'))
            {
                codes.push(code.to_owned());
            }
        }
    }
    assert!(codes.len() > 20, "the scan found only {codes:?}");
    for code in &codes {
        assert!(
            readme.contains(&format!("| `{code}` |")),
            "error code {code} is missing from the README's table"
        );
    }
}

async fn post_raw(app: &crate::helpers::TestApp, path: &str, body: String) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// A NUL byte reached PostgreSQL and came back as a 500; now no control character gets past
/// the body parser, on any route, and nothing is written.
async fn control_characters_are_refused_before_the_database(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let cases = [
        (
            "/api/auth/register",
            json!({ "email": "nul\u{0}@example.com", "password": PASSWORD }),
            "email",
        ),
        (
            "/api/auth/login",
            json!({ "email": account.email, "password": "violet\u{0}Tractor-42" }),
            "password",
        ),
        (
            "/api/auth/refresh",
            json!({ "refresh": format!("{}\u{0}", account.refresh) }),
            "refresh",
        ),
        (
            "/api/auth/oidc/acme/callback",
            json!({ "code": "c", "state": "s\u{0}" }),
            "state",
        ),
        (
            "/api/auth/register",
            json!({ "email": unique_email(), "password": PASSWORD, "firstName": "Ann\u{1b}[31m" }),
            "firstName",
        ),
        (
            "/api/auth/register",
            json!({ "email": unique_email(), "password": PASSWORD, "extra": { "list": ["ok", "bell\u{7}"] } }),
            "extra.list[1]",
        ),
    ];
    for (path, body, field) in cases {
        let response = app.post(path, &body).await;
        let body = expect_error(response, StatusCode::BAD_REQUEST, "validation_error").await;
        assert!(body["details"][field].is_array(), "{path}: {body}");
    }
    let me = app
        .client
        .patch(app.url("/api/auth/me"))
        .bearer_auth(&account.access)
        .json(&json!({ "lastName": "Lee\u{85}" }))
        .send()
        .await
        .unwrap();
    expect_error(me, StatusCode::BAD_REQUEST, "validation_error").await;
    // Nothing was written: the session still rotates, the account logs in.
    crate::helpers::expect_status(app.refresh(&account.refresh).await, StatusCode::OK).await;
    crate::helpers::expect_status(app.login(&account.email, PASSWORD).await, StatusCode::OK).await;
}

/// `{"email": "nobody@…", "email": "ann@…"}` logged in as ann: what a proxy or log read was
/// not what authd acted on. A key given twice, or two Authorization headers, are now a 400.
async fn duplicate_keys_and_headers_are_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let body = format!(
        r#"{{"email": "nobody@example.com", "email": "{}", "password": "{PASSWORD}"}}"#,
        account.email
    );
    let twice = post_raw(&app, "/api/auth/login", body).await;
    expect_reason(
        twice,
        StatusCode::BAD_REQUEST,
        "invalid_json",
        "more than once",
    )
    .await;
    let nested = format!(
        r#"{{"refresh": "{}", "x": {{"a": 1, "a": 2}}}}"#,
        account.refresh
    );
    let nested = post_raw(&app, "/api/auth/refresh", nested).await;
    expect_reason(
        nested,
        StatusCode::BAD_REQUEST,
        "invalid_json",
        "more than once",
    )
    .await;

    let (other_access, _) = app.login_pair(&account.email).await;
    let two_headers = app
        .client
        .get(app.url("/api/auth/me"))
        .header("Authorization", format!("Bearer {}", account.access))
        .header("Authorization", format!("Bearer {other_access}"))
        .send()
        .await
        .unwrap();
    expect_reason(
        two_headers,
        StatusCode::BAD_REQUEST,
        "invalid_authorization_header",
        "more than one",
    )
    .await;
    // The refused refresh wrote nothing.
    crate::helpers::expect_status(app.refresh(&account.refresh).await, StatusCode::OK).await;
}

crate::on_both_backends!(
    bad_bodies_get_standard_errors_and_change_nothing,
    unknown_paths_and_methods_get_json_errors,
    control_characters_are_refused_before_the_database,
    duplicate_keys_and_headers_are_refused,
);
