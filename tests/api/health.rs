use reqwest::StatusCode;

use crate::helpers::{expect_status, spawn_app, Backend};

async fn healthz_and_readyz_answer(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let body = expect_status(
        app.client.get(app.url("/healthz")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["status"], "ok");
    let body = expect_status(
        app.client.get(app.url("/readyz/")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["database"], "ok");
}

crate::on_both_backends!(healthz_and_readyz_answer);
