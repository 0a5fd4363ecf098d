use reqwest::{Method, StatusCode};

use crate::helpers::{expect_error, spawn_app, spawn_app_with, Backend, TestApp};

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, app.url("/api/auth/login"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap()
}

fn allowed_origin(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned())
}

async fn the_spa_origin_is_allowed_and_others_are_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let allowed = preflight(&app, "http://localhost:5173").await;
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(
        allowed_origin(&allowed).as_deref(),
        Some("http://localhost:5173")
    );
    let headers = allowed.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        headers.contains("authorization") && headers.contains("content-type"),
        "{headers}"
    );

    let refused = preflight(&app, "http://evil.example").await;
    assert_eq!(allowed_origin(&refused), None);
    expect_error(refused, StatusCode::BAD_REQUEST, "origin_not_allowed").await;

    let simple = app
        .client
        .get(app.url("/healthz"))
        .header("Origin", "http://localhost:5173")
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed_origin(&simple).as_deref(),
        Some("http://localhost:5173")
    );
    let foreign = app
        .client
        .get(app.url("/healthz"))
        .header("Origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed_origin(&foreign), None);
}

async fn origins_come_from_configuration(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| {
        s.cors.allowed_origins = vec!["https://app.example".into(), "https://admin.example".into()];
    })
    .await
    else {
        return;
    };
    for origin in ["https://app.example", "https://admin.example"] {
        assert_eq!(
            allowed_origin(&preflight(&app, origin).await).as_deref(),
            Some(origin)
        );
    }
    assert_eq!(
        allowed_origin(&preflight(&app, "http://localhost:5173").await),
        None
    );
}

crate::on_both_backends!(
    the_spa_origin_is_allowed_and_others_are_refused,
    origins_come_from_configuration
);
