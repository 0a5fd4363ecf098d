use diesel::connection::SimpleConnection;
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

/// The pool hands out connections without pinging them first, so a connection the database
/// closed fails one request (503 in the standard body) and then leaves the pool: requests
/// recover without a restart.
#[tokio::test]
async fn the_pool_drops_connections_the_database_closed() {
    let pool_size = 3;
    let Some(app) = spawn_app_with(Backend::Postgres, |s| {
        s.database.max_connections = pool_size
    })
    .await
    else {
        return;
    };
    let account = app.register(&crate::helpers::unique_email()).await;
    let me = || app.get_with_bearer("/api/auth/me", &account.access);
    // Open every connection of the pool, then have the server end them all.
    futures::future::join_all((0..8).map(|_| me())).await;
    let name = app.db.url.rsplit('/').next().unwrap().to_owned();
    let mut admin = PgConnection::establish(&postgres_admin_url()).unwrap();
    let ended: Vec<bool> = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
        "pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    )))
    .load(&mut admin)
    .unwrap();
    assert!(!ended.is_empty(), "the app had no connection to end");

    let mut failures = 0;
    for _ in 0..pool_size + 2 {
        let response = me().await;
        if response.status() == StatusCode::OK {
            break;
        }
        expect_error(
            response,
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
        )
        .await;
        failures += 1;
    }
    assert!(
        failures <= pool_size as usize,
        "{failures} requests failed after the connections were closed"
    );
    // From now on every request is served.
    for _ in 0..2 * pool_size {
        expect_status(me().await, StatusCode::OK).await;
    }
}

/// On SQLite a connection handed out for reading refuses writes, so a handler that writes
/// through `db` instead of `db_write` fails at once rather than stalling an async worker on
/// SQLite's write lock; the same connection writes again once handed out for writing.
#[tokio::test]
async fn sqlite_connections_handed_out_for_reading_refuse_writes() {
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    app.register(&crate::helpers::unique_email()).await;
    let target = authd::db::DbTarget::parse(&app.db.url).unwrap();
    let pool = authd::db::connect_pool(&target, 1, std::time::Duration::from_secs(5)).unwrap();
    let mut conn = pool.get().unwrap();
    let count = |conn: &mut authd::db::DbConnection| -> i64 {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(SELECT COUNT(*) FROM users)",
        ))
        .get_result(conn)
        .unwrap()
    };

    conn.set_read_only(true).unwrap();
    let refused = conn.batch_execute("DELETE FROM users").unwrap_err();
    assert!(refused.to_string().contains("readonly"), "{refused}");
    assert_eq!(count(&mut conn), 1, "reading still works");

    conn.set_read_only(false).unwrap();
    conn.batch_execute("DELETE FROM users").unwrap();
    assert_eq!(count(&mut conn), 0);
}
