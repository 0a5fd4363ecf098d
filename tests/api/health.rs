use diesel::{Connection, PgConnection, RunQueryDsl};
use reqwest::StatusCode;

use crate::helpers::{
    expect_error, expect_status, postgres_admin_url, spawn_app, spawn_app_with, Backend,
};

async fn healthz_and_readyz_answer(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let body = app.get_ok("/healthz").await;
    assert_eq!(body["status"], "ok");
    let body = app.get_ok("/readyz/").await;
    assert_eq!(body["database"], "ok");
}

crate::on_both_backends!(healthz_and_readyz_answer);

/// Readiness follows the database; liveness does not.
#[tokio::test]
async fn readyz_fails_when_the_database_is_gone() {
    let Some(app) =
        spawn_app_with(Backend::Postgres, |s| s.database.connect_timeout_secs = 1).await
    else {
        return;
    };
    let name = app.db.url.rsplit('/').next().unwrap().to_owned();
    let mut admin = PgConnection::establish(&postgres_admin_url()).unwrap();
    diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .unwrap();
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    expect_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "database_unavailable",
    )
    .await;
    let live = app.client.get(app.url("/healthz")).send().await.unwrap();
    expect_status(live, StatusCode::OK).await;
}
