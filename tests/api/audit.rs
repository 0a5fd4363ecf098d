//! The audit log: which actions leave an event, what an event holds (and never holds), the
//! caller's own events, the admin's filters and pages, floods reported once, and retention.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::admin::{call, count, staff};
use crate::helpers::{
    expect_error, expect_status, pair_of, spawn_app_with, unique_email, Backend, TestApp, PASSWORD,
};
use crate::process::{authd, run, text};

crate::on_both_backends!(
    security_events_are_recorded_with_their_origin_and_no_secret,
    floods_and_lockouts_are_recorded_once,
    audit_pages_filter_by_time_and_old_events_expire,
    ending_sessions_is_recorded_by_scope,
);

const AGENT: &str = "AuditTest/1.0";

async fn with_agent(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut request = app
        .client
        .request(method, app.url(path))
        .header("User-Agent", AGENT)
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn own_events(app: &TestApp, access: &str) -> Vec<Value> {
    let body = expect_status(
        app.get_with_bearer("/api/auth/me/events?limit=200", access)
            .await,
        StatusCode::OK,
    )
    .await;
    body["items"].as_array().unwrap().clone()
}

fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .rev()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

async fn security_events_are_recorded_with_their_origin_and_no_secret(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.jwt.refresh_reuse_grace_secs = 0).await else {
        return;
    };
    let email = unique_email();
    let registered = with_agent(
        &app,
        Method::POST,
        "/api/auth/register",
        None,
        json!({ "email": email, "password": PASSWORD }),
    )
    .await;
    let registered = expect_status(registered, StatusCode::CREATED).await;
    let (access, first_refresh) = pair_of(&registered);
    let wrong = with_agent(
        &app,
        Method::POST,
        "/api/auth/login",
        None,
        json!({ "email": email, "password": "Wrong-password-99" }),
    )
    .await;
    expect_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let login = with_agent(
        &app,
        Method::POST,
        "/api/auth/login",
        None,
        json!({ "email": email, "password": PASSWORD }),
    )
    .await;
    let (second_access, second_refresh) = pair_of(&expect_status(login, StatusCode::OK).await);
    // Reuse: the first refresh token twice.
    expect_status(app.refresh(&first_refresh).await, StatusCode::OK).await;
    expect_error(
        app.refresh(&first_refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_reused",
    )
    .await;
    // Ending the second session from the list, then a password change, then logout.
    let sessions = expect_status(
        app.get_with_bearer("/api/auth/sessions", &access).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(
        sessions["code"], "token_revoked",
        "the reuse ended the first session"
    );
    let new_password = "Another-violet-Tractor-7";
    let changed = with_agent(
        &app,
        Method::POST,
        "/api/auth/password",
        Some(&second_access),
        json!({ "currentPassword": PASSWORD, "newPassword": new_password }),
    )
    .await;
    expect_status(changed, StatusCode::NO_CONTENT).await;
    let logout = with_agent(
        &app,
        Method::POST,
        "/api/auth/logout",
        None,
        json!({ "refresh": second_refresh }),
    )
    .await;
    expect_status(logout, StatusCode::NO_CONTENT).await;
    let (access, _) =
        pair_of(&expect_status(app.login(&email, new_password).await, StatusCode::OK).await);

    let events = own_events(&app, &access).await;
    assert_eq!(
        types(&events),
        [
            "user.registered",
            "login.succeeded",
            "login.failed",
            "login.succeeded",
            "refresh.reuse_detected",
            "password.changed",
            "logout",
            "login.succeeded",
        ],
        "{events:#?}"
    );
    let failed = events.iter().find(|e| e["type"] == "login.failed").unwrap();
    assert_eq!(failed["details"]["reason"], "invalid_credentials");
    assert_eq!(failed["ip"], "127.0.0.1");
    assert_eq!(failed["userAgent"], AGENT);
    assert_eq!(failed["actor"], "anonymous");
    let signed_in = events
        .iter()
        .find(|e| e["type"] == "login.succeeded")
        .unwrap();
    assert_eq!(signed_in["details"]["method"], "password");
    assert_eq!(
        signed_in["actor"],
        format!("user:{}", registered["user"]["id"].as_str().unwrap())
    );
    // Nothing secret, and no email address, in any event.
    let all = serde_json::to_string(&events).unwrap();
    for secret in [
        PASSWORD,
        new_password,
        "Wrong-password-99",
        first_refresh.as_str(),
        second_refresh.as_str(),
        email.as_str(),
    ] {
        assert!(!all.contains(secret), "an event holds {secret}");
    }

    // Another user sees only their own events; an admin filters by user and type.
    let other = app.register(&unique_email()).await;
    assert_eq!(
        types(&own_events(&app, &other.access).await),
        ["user.registered", "login.succeeded"]
    );
    let admin = staff(&app).await;
    let user_id = registered["user"]["id"].as_str().unwrap();
    let filtered = call(
        &app,
        Method::GET,
        &format!("/api/admin/audit?userId={user_id}&type=login.succeeded"),
        Some(&admin.access),
        None,
    )
    .await;
    let filtered = expect_status(filtered, StatusCode::OK).await;
    assert_eq!(filtered["items"].as_array().unwrap().len(), 3, "{filtered}");
    let bad = call(
        &app,
        Method::GET,
        "/api/admin/audit?type=no.such.type",
        Some(&admin.access),
        None,
    )
    .await;
    expect_error(bad, StatusCode::BAD_REQUEST, "validation_error").await;
}

async fn floods_and_lockouts_are_recorded_once(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| {
        s.rate_limit.login_per_ip = authd::config::parse_quota("3/1m").unwrap();
        s.lockout.max_failures = 2;
    })
    .await
    else {
        return;
    };
    let account = app.register(&unique_email()).await;
    for _ in 0..2 {
        let wrong = app.login(&account.email, "Wrong-password-99").await;
        expect_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    let mut limited = 0;
    for _ in 0..6 {
        if app.login(&account.email, PASSWORD).await.status() == StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
        }
    }
    assert!(limited >= 5, "{limited} of 6 were limited");
    let mut conn = app.db_conn();
    let of_type = |conn: &mut authd::db::DbConnection, kind: &str| {
        count(
            conn,
            &format!("SELECT COUNT(*) AS n FROM audit_events WHERE event_type = '{kind}'"),
        )
    };
    assert_eq!(
        of_type(&mut conn, "rate_limit.triggered"),
        1,
        "a flood is one event"
    );
    assert_eq!(of_type(&mut conn, "lockout.triggered"), 1);
    assert_eq!(of_type(&mut conn, "login.failed"), 2);
}

async fn audit_pages_filter_by_time_and_old_events_expire(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |_| {}).await else {
        return;
    };
    let admin = staff(&app).await;
    let start = chrono::Utc::now();
    for _ in 0..5 {
        app.login_pair(&admin.email).await;
    }
    let mut seen = Vec::new();
    let mut path = format!("/api/admin/audit?userId={}&limit=2", admin.id);
    loop {
        let page = expect_status(
            call(&app, Method::GET, &path, Some(&admin.access), None).await,
            StatusCode::OK,
        )
        .await;
        for event in page["items"].as_array().unwrap() {
            seen.push(event["id"].as_str().unwrap().to_owned());
        }
        match page["nextCursor"].as_str() {
            Some(cursor) => {
                path = format!(
                    "/api/admin/audit?userId={}&limit=2&cursor={cursor}",
                    admin.id
                )
            }
            None => break,
        }
    }
    // registered + 1 login at registration + 5 logins
    assert_eq!(seen.len(), 7, "{seen:?}");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 7);
    let after = start
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        .replace('+', "%2B");
    let recent = call(
        &app,
        Method::GET,
        &format!("/api/admin/audit?userId={}&after={after}", admin.id),
        Some(&admin.access),
        None,
    )
    .await;
    let recent = expect_status(recent, StatusCode::OK).await;
    assert_eq!(recent["items"].as_array().unwrap().len(), 5, "{recent}");

    // An event older than audit.retention_days goes at flush-expired; recent ones stay.
    let old = authd::db::audit::AuditEvent {
        id: uuid::Uuid::new_v4().to_string(),
        created_at: (chrono::Utc::now() - chrono::Duration::days(91)).naive_utc(),
        event_type: "login.succeeded".into(),
        user_id: Some(admin.id.clone()),
        actor: "system".into(),
        ip: String::new(),
        user_agent: String::new(),
        details: "{}".into(),
    };
    old.insert(&mut app.db_conn()).unwrap();
    let flushed = run(&mut authd(&["flush-expired"], &app.db, &[]), None);
    assert!(flushed.status.success(), "{}", text(&flushed.stderr));
    assert!(
        text(&flushed.stdout).contains("deleted 1 audit event(s) older than 90 days"),
        "{}",
        text(&flushed.stdout)
    );
    let left = count(
        &mut app.db_conn(),
        &format!(
            "SELECT COUNT(*) AS n FROM audit_events WHERE user_id = '{}'",
            admin.id
        ),
    );
    assert_eq!(left, 7);
}

/// The types of the events about `user_id`, oldest first, read from the database.
pub fn event_types_of(app: &TestApp, user_id: &str) -> Vec<String> {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        event_type: String,
    }
    diesel::sql_query(format!(
        "SELECT event_type FROM audit_events WHERE user_id = '{user_id}' ORDER BY created_at, id"
    ))
    .load::<Row>(&mut app.db_conn())
    .unwrap()
    .into_iter()
    .map(|row| row.event_type)
    .collect()
}

async fn ending_sessions_is_recorded_by_scope(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |_| {}).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let (second, _) = app.login_pair(&account.email).await;
    let sessions = expect_status(
        app.get_with_bearer("/api/auth/sessions", &account.access)
            .await,
        StatusCode::OK,
    )
    .await;
    let other = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ended = call(
        &app,
        Method::DELETE,
        &format!("/api/auth/sessions/{other}"),
        Some(&account.access),
        None,
    )
    .await;
    expect_status(ended, StatusCode::NO_CONTENT).await;
    expect_error(
        app.get_with_bearer("/api/auth/me", &second).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    app.login_pair(&account.email).await;
    let others = call(
        &app,
        Method::POST,
        "/api/auth/logout",
        Some(&account.access),
        Some(json!({ "scope": "others" })),
    )
    .await;
    expect_status(others, StatusCode::NO_CONTENT).await;
    let all = call(
        &app,
        Method::POST,
        "/api/auth/logout",
        Some(&account.access),
        Some(json!({ "scope": "global" })),
    )
    .await;
    expect_status(all, StatusCode::NO_CONTENT).await;
    let types = event_types_of(&app, &account.id);
    let ends: Vec<&str> = types
        .iter()
        .map(String::as_str)
        .filter(|t| t.starts_with("session") || t.starts_with("logout"))
        .collect();
    assert_eq!(
        ends,
        ["session.revoked", "logout.others", "logout.all"],
        "{types:?}"
    );
}
