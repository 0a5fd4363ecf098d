//! The database failing: writes refused (read-only, locked) are a 503 the client may retry,
//! not a 500; an unreachable database is answered 503 at once after the first failure and is
//! used again as soon as it answers; unique violations are told apart by field.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, RunQueryDsl};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    expect_error, expect_status, postgres_admin_url, spawn_app, spawn_app_with, unique_email,
    Backend, TestApp, PASSWORD,
};

fn admin(sql: &str) {
    let mut admin = PgConnection::establish(&postgres_admin_url()).unwrap();
    admin.batch_execute(sql).unwrap();
}

fn database_name(app: &TestApp) -> String {
    app.db.url.rsplit('/').next().unwrap().to_owned()
}

fn end_connections(name: &str) {
    let mut admin = PgConnection::establish(&postgres_admin_url()).unwrap();
    diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ))
    .execute(&mut admin)
    .unwrap();
}

async fn register(app: &TestApp, email: &str) -> reqwest::Response {
    app.post(
        "/api/auth/register",
        &json!({ "email": email, "password": PASSWORD }),
    )
    .await
}

async fn expect_unavailable(response: reqwest::Response) {
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap()),
        Some("1")
    );
    expect_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "database_unavailable",
    )
    .await;
}

/// A fail-over left authd on a read-only server: writes answer 503, and /readyz takes the
/// replica out of the balancer.
#[tokio::test]
async fn a_read_only_postgres_gives_503_and_is_not_ready() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let name = database_name(&app);
    admin(&format!(
        "ALTER DATABASE {name} SET default_transaction_read_only = on"
    ));
    end_connections(&name);
    let email = unique_email();
    // Requests meet the connections the server just ended (one 503 each), then read-only ones.
    for _ in 0..5 {
        expect_unavailable(register(&app, &email).await).await;
    }
    expect_unavailable(app.refresh(&account.refresh).await).await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    expect_unavailable(ready).await;
    // Reads still work.
    expect_status(
        app.get_with_bearer("/api/auth/me", &account.access).await,
        StatusCode::OK,
    )
    .await;

    admin(&format!(
        "ALTER DATABASE {name} SET default_transaction_read_only = off"
    ));
    end_connections(&name);
    // At most one 503 per pooled connection (4 in tests) that the server ended.
    let mut back = register(&app, &email).await;
    for _ in 0..4 {
        if back.status() != StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        back = register(&app, &email).await;
    }
    expect_status(back, StatusCode::CREATED).await;
}

/// Another process holds SQLite's write lock past the busy timeout: 503, not 500.
#[tokio::test]
async fn a_locked_sqlite_database_gives_503() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |s| {
        s.database.connect_timeout_secs = 8;
    })
    .await
    else {
        return;
    };
    let mut holder = app.db_conn();
    holder.batch_execute("BEGIN EXCLUSIVE").unwrap();
    expect_unavailable(register(&app, &unique_email()).await).await;
    holder.batch_execute("ROLLBACK").unwrap();
    expect_status(register(&app, &unique_email()).await, StatusCode::CREATED).await;
}

/// Once connecting has failed, requests are answered at once instead of each waiting out the
/// connect timeout; when the database answers again, so does authd.
#[tokio::test]
async fn an_unreachable_database_is_answered_at_once_and_recovers() {
    let Some(app) = spawn_app_with(Backend::Postgres, |s| {
        s.database.connect_timeout_secs = 3;
    })
    .await
    else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let name = database_name(&app);
    admin(&format!(
        "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false"
    ));
    end_connections(&name);
    let me = || app.get_with_bearer("/api/auth/me", &account.access);
    // Up to one request per pooled connection meets a dead one; then one waits out the
    // connect timeout and opens the breaker.
    for _ in 0..6 {
        let response = me().await;
        expect_unavailable(response).await;
    }
    let started = Instant::now();
    let answers = futures::future::join_all((0..20).map(|_| me())).await;
    let took = started.elapsed();
    for answer in answers {
        expect_unavailable(answer).await;
    }
    assert!(
        took < Duration::from_millis(1500),
        "20 requests took {took:?}: they waited for the 3 s connect timeout"
    );
    let started = Instant::now();
    expect_unavailable(app.client.get(app.url("/readyz")).send().await.unwrap()).await;
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "/readyz was slow"
    );

    admin(&format!(
        "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true"
    ));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = me().await;
        if response.status() == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "authd did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    expect_status(app.get_ok_response("/readyz").await, StatusCode::OK).await;
}

/// Each unique violation is told apart by field, on both backends: an email race is not an
/// identity linked elsewhere.
async fn unique_violations_name_their_field(backend: Backend) {
    use authd::db::users::User;
    use authd::db::{unique_violation, UniqueField};
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let mut conn = app.db_conn();
    let mut existing = User::find_by_id(&mut conn, &account.id).unwrap();
    existing.id = uuid::Uuid::new_v4().to_string();
    let same_email = existing.insert(&mut conn).unwrap_err();
    assert_eq!(unique_violation(&same_email), Some(UniqueField::Email));
    existing.email_key = unique_email();
    existing.username = Some("dup".into());
    existing.username_key = Some("dup".into());
    existing.insert(&mut conn).unwrap();
    existing.id = uuid::Uuid::new_v4().to_string();
    existing.email_key = unique_email();
    let same_username = existing.insert(&mut conn).unwrap_err();
    assert_eq!(
        unique_violation(&same_username),
        Some(UniqueField::Username)
    );
    let identity = authd::db::identities::Identity::new(&account.id, "acme", "subject", None);
    identity.insert(&mut conn).unwrap();
    let again = authd::db::identities::Identity::new(&account.id, "acme", "subject", None)
        .insert(&mut conn)
        .unwrap_err();
    assert_eq!(unique_violation(&again), Some(UniqueField::Identity));
}

crate::on_both_backends!(unique_violations_name_their_field);

/// A provider that accepts connections and never answers: concurrent sign-ins share one fetch
/// and its one timeout, and the failure is remembered briefly, so the next sign-in fails at
/// once instead of waiting again.
#[tokio::test]
async fn a_hanging_provider_costs_one_timeout_not_one_per_request() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let Some(app) = spawn_app_with(Backend::Sqlite, |s| {
        s.oidc.http_timeout_secs = 1;
        s.oidc.providers.insert(
            "hangs".into(),
            crate::oidc::provider("oidc", &issuer, "Hangs"),
        );
    })
    .await
    else {
        return;
    };
    let authorize = || {
        app.client
            .get(app.url("/api/auth/oidc/hangs/authorize"))
            .query(&crate::oidc::authorize_query())
            .send()
    };
    let started = Instant::now();
    let answers = futures::future::join_all((0..6).map(|_| authorize())).await;
    let took = started.elapsed();
    for answer in answers {
        expect_error(
            answer.unwrap(),
            StatusCode::BAD_GATEWAY,
            "provider_unavailable",
        )
        .await;
    }
    assert!(
        took < Duration::from_millis(2500),
        "6 sign-ins took {took:?}: each waited for its own 1 s timeout"
    );
    let started = Instant::now();
    let again = authorize().await.unwrap();
    expect_error(again, StatusCode::BAD_GATEWAY, "provider_unavailable").await;
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "the failure was not remembered"
    );
}
