//! `/api/admin/`: who may call it, the user list and its pages, and what each change does.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    expect_error, expect_status, spawn_app, unique_email, Account, Backend, TestApp,
};
use authd::db::users::User;
use authd::db::users_admin::AdminChanges;

crate::on_both_backends!(
    admin_routes_refuse_anonymous_callers_and_normal_users,
    the_user_list_filters_and_pages_without_gaps_or_repeats,
    an_admin_creates_changes_deactivates_and_logs_out_users,
    deleting_a_user_removes_everything_that_points_at_them,
    the_cli_administers_users_without_a_server,
);

/// A registered user made staff in the database (as `authd create-user --staff` would).
pub async fn staff(app: &TestApp) -> Account {
    let account = app.register(&unique_email()).await;
    let changes = AdminChanges {
        is_staff: Some(true),
        ..AdminChanges::default()
    };
    User::apply_admin_changes(&mut app.db_conn(), &account.id, &changes).unwrap();
    account
}

pub async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn admin_routes_refuse_anonymous_callers_and_normal_users(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = staff(&app).await;
    let user = app.register(&unique_email()).await;
    let target = format!("/api/admin/users/{}", user.id);
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/api/admin/users".into(), None),
        // An invalid body: a non-admin must hear 403, not what is wrong with it.
        (
            Method::POST,
            "/api/admin/users".into(),
            Some(json!({ "email": "x" })),
        ),
        (Method::GET, target.clone(), None),
        (
            Method::PATCH,
            target.clone(),
            Some(json!({ "firstName": "Ann" })),
        ),
        (Method::DELETE, target.clone(), None),
        (Method::POST, format!("{target}/logout"), Some(json!({}))),
        (Method::GET, format!("{target}/sessions"), None),
        (Method::GET, format!("{target}/identities"), None),
        (Method::GET, "/api/admin/audit".into(), None),
    ];
    for (method, path, body) in &routes {
        let anonymous = call(&app, method.clone(), path, None, body.clone()).await;
        expect_error(anonymous, StatusCode::UNAUTHORIZED, "not_authenticated").await;
        let normal = call(&app, method.clone(), path, Some(&user.access), body.clone()).await;
        expect_error(normal, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // The staff flag is read from the database: a token that says staff is not enough once
    // the flag is gone, and one that does not say it is enough once it is there.
    let listed = call(
        &app,
        Method::GET,
        "/api/admin/users",
        Some(&admin.access),
        None,
    )
    .await;
    expect_status(listed, StatusCode::OK).await;
    let demote = AdminChanges {
        is_staff: Some(false),
        ..AdminChanges::default()
    };
    User::apply_admin_changes(&mut app.db_conn(), &admin.id, &demote).unwrap();
    let stale = call(
        &app,
        Method::GET,
        "/api/admin/users",
        Some(&admin.access),
        None,
    )
    .await;
    expect_error(stale, StatusCode::FORBIDDEN, "forbidden").await;
    // Nothing was changed by the refused calls.
    let body = expect_status(
        app.get_with_bearer("/api/auth/me", &user.access).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["firstName"], "");
}

async fn list_page(app: &TestApp, token: &str, query: &str) -> Value {
    let response = call(
        app,
        Method::GET,
        &format!("/api/admin/users?{query}"),
        Some(token),
        None,
    )
    .await;
    expect_status(response, StatusCode::OK).await
}

fn emails(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["email"].as_str().unwrap().to_owned())
        .collect()
}

async fn the_user_list_filters_and_pages_without_gaps_or_repeats(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = staff(&app).await;
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let mut created = Vec::new();
    for (i, (first, last)) in [("Ann", "Smith"), ("Bob", "Jones"), ("Cid", "Smithers")]
        .iter()
        .cycle()
        .take(7)
        .enumerate()
    {
        // The domain is stored lower-cased.
        let email = format!("{tag}-{i}@example.com");
        let response = call(
            &app,
            Method::POST,
            "/api/admin/users",
            Some(&admin.access),
            Some(json!({ "email": email.replace("example", "Example"), "firstName": first, "lastName": last, "username": format!("u{tag}{i}") })),
        )
        .await;
        let body = expect_status(response, StatusCode::CREATED).await;
        assert_eq!(body["hasPassword"], false);
        assert!(body.get("passwordHash").is_none() && body.get("password_hash").is_none());
        created.push(email);
    }
    // Three at a time, newest first, every user once.
    let mut seen = Vec::new();
    let mut query = format!("q={tag}&limit=3");
    loop {
        let page = list_page(&app, &admin.access, &query).await;
        assert!(page["items"].as_array().unwrap().len() <= 3);
        seen.extend(emails(&page));
        match page["nextCursor"].as_str() {
            Some(cursor) => query = format!("q={tag}&limit=3&cursor={cursor}"),
            None => break,
        }
    }
    let mut newest_first = created.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);
    // A substring of the email (any case), of the username, of "first last".
    let upper = list_page(
        &app,
        &admin.access,
        &format!("q={}-3@EXAMPLE", tag.to_uppercase()),
    )
    .await;
    assert_eq!(emails(&upper), vec![created[3].clone()]);
    let by_username = list_page(&app, &admin.access, &format!("q=u{tag}5")).await;
    assert_eq!(emails(&by_username), vec![created[5].clone()]);
    let by_name = list_page(&app, &admin.access, "q=ann%20smi").await;
    assert!(emails(&by_name).contains(&created[0]) && !emails(&by_name).contains(&created[1]));
    // LIKE's wildcards match themselves only.
    let wildcard = list_page(&app, &admin.access, &format!("q={tag}%25")).await;
    assert!(emails(&wildcard).is_empty(), "{wildcard}");
    let staff_only = list_page(&app, &admin.access, "isStaff=true").await;
    assert_eq!(emails(&staff_only), vec![admin.email.clone()]);
    let after_all = list_page(&app, &admin.access, "createdAfter=2999-01-01T00:00:00Z").await;
    assert!(emails(&after_all).is_empty());
    for bad in [
        "limit=0",
        "limit=201",
        "cursor=nonsense",
        "createdAfter=yesterday",
        "isStaff=maybe",
        "q=a%00b",
    ] {
        let response = call(
            &app,
            Method::GET,
            &format!("/api/admin/users?{bad}"),
            Some(&admin.access),
            None,
        )
        .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert!(body["code"].is_string(), "{bad}: {body}");
    }
}

async fn an_admin_creates_changes_deactivates_and_logs_out_users(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = staff(&app).await;
    let token = Some(admin.access.as_str());
    let email = unique_email();
    let weak = call(
        &app,
        Method::POST,
        "/api/admin/users",
        token,
        Some(json!({ "email": email, "password": "password" })),
    )
    .await;
    let body = expect_error(weak, StatusCode::BAD_REQUEST, "validation_error").await;
    assert!(body["details"]["password"].is_array(), "{body}");
    let created = call(
        &app,
        Method::POST,
        "/api/admin/users",
        token,
        Some(json!({ "email": email, "password": crate::helpers::PASSWORD, "isStaff": false })),
    )
    .await;
    let created = expect_status(created, StatusCode::CREATED).await;
    assert_eq!(created["hasPassword"], true);
    let id = created["id"].as_str().unwrap().to_owned();
    let again = call(
        &app,
        Method::POST,
        "/api/admin/users",
        token,
        Some(json!({ "email": email.to_uppercase() })),
    )
    .await;
    expect_error(again, StatusCode::CONFLICT, "email_taken").await;

    // The new user signs in; the admin changes them.
    let (access, refresh) = app.login_pair(&email).await;
    let path = format!("/api/admin/users/{id}");
    let new_email = unique_email();
    let changed = call(&app, Method::PATCH, &path, token, Some(json!({ "firstName": "Ann", "username": "ann_admin", "email": new_email, "emailVerified": true }))).await;
    let changed = expect_status(changed, StatusCode::OK).await;
    assert_eq!(changed["firstName"], "Ann");
    assert_eq!(changed["username"], "ann_admin");
    assert_eq!(changed["email"], new_email.as_str());
    assert_eq!(changed["emailVerified"], true);
    let taken = call(
        &app,
        Method::PATCH,
        &path,
        token,
        Some(json!({ "email": admin.email })),
    )
    .await;
    expect_error(taken, StatusCode::CONFLICT, "email_taken").await;
    let invalid = call(
        &app,
        Method::PATCH,
        &path,
        token,
        Some(json!({ "username": "a b\u{7}" })),
    )
    .await;
    expect_error(invalid, StatusCode::BAD_REQUEST, "validation_error").await;
    let unknown = call(
        &app,
        Method::PATCH,
        "/api/admin/users/no-such-id",
        token,
        Some(json!({ "firstName": "X" })),
    )
    .await;
    expect_error(unknown, StatusCode::NOT_FOUND, "not_found").await;

    // Admins cannot lock themselves out.
    let own = format!("/api/admin/users/{}", admin.id);
    let demote = call(
        &app,
        Method::PATCH,
        &own,
        token,
        Some(json!({ "isStaff": false })),
    )
    .await;
    expect_error(demote, StatusCode::CONFLICT, "cannot_demote_self").await;
    let deactivate = call(
        &app,
        Method::PATCH,
        &own,
        token,
        Some(json!({ "isActive": false })),
    )
    .await;
    expect_error(deactivate, StatusCode::CONFLICT, "cannot_deactivate_self").await;
    let delete = call(&app, Method::DELETE, &own, token, None).await;
    expect_error(delete, StatusCode::CONFLICT, "cannot_delete_self").await;

    // Ending every session: the user's refresh token dies, their access token too at /me.
    let logout = call(&app, Method::POST, &format!("{path}/logout"), token, None).await;
    expect_status(logout, StatusCode::NO_CONTENT).await;
    expect_error(
        app.refresh(&refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    expect_error(
        app.get_with_bearer("/api/auth/me", &access).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    let sessions = call(&app, Method::GET, &format!("{path}/sessions"), token, None).await;
    let sessions = expect_status(sessions, StatusCode::OK).await;
    assert_eq!(sessions[0]["revokedReason"], "ended_by_admin", "{sessions}");
    assert_eq!(sessions[0]["method"], "password");
    let identities = call(
        &app,
        Method::GET,
        &format!("{path}/identities"),
        token,
        None,
    )
    .await;
    assert_eq!(expect_status(identities, StatusCode::OK).await, json!([]));

    // Deactivation ends the sessions started since, and login is refused.
    let (access, _) = app.login_pair(&new_email).await;
    let off = call(
        &app,
        Method::PATCH,
        &path,
        token,
        Some(json!({ "isActive": false })),
    )
    .await;
    assert_eq!(expect_status(off, StatusCode::OK).await["isActive"], false);
    let me = app.get_with_bearer("/api/auth/me", &access).await;
    assert!(me.status() == StatusCode::UNAUTHORIZED || me.status() == StatusCode::FORBIDDEN);
    let login = app.login(&new_email, crate::helpers::PASSWORD).await;
    expect_error(login, StatusCode::UNAUTHORIZED, "user_inactive").await;
    let on = call(
        &app,
        Method::PATCH,
        &path,
        token,
        Some(json!({ "isActive": true })),
    )
    .await;
    expect_status(on, StatusCode::OK).await;
    app.login_pair(&new_email).await;

    // Each change is in the audit log: who, to whom, which fields; never the values.
    let audit = call(
        &app,
        Method::GET,
        &format!("/api/admin/audit?userId={id}&type=admin.user_updated"),
        token,
        None,
    )
    .await;
    let audit = expect_status(audit, StatusCode::OK).await;
    let events = audit["items"].as_array().unwrap();
    assert_eq!(events.len(), 3, "{audit}");
    for event in events {
        assert_eq!(event["actor"], format!("admin:{}", admin.id));
        assert_eq!(event["userId"], id.as_str());
        let text = event.to_string();
        assert!(
            !text.contains(&new_email) && !text.contains("ann_admin"),
            "{text}"
        );
    }
    assert_eq!(
        events[2]["details"]["fields"],
        json!(["email", "username", "firstName", "emailVerified"])
    );
    assert_eq!(events[1]["details"]["sessionsEnded"], 1, "{audit}");
}

async fn deleting_a_user_removes_everything_that_points_at_them(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = staff(&app).await;
    let user = app.register(&unique_email()).await;
    let (_, refresh) = app.login_pair(&user.email).await;
    expect_status(app.refresh(&refresh).await, StatusCode::OK).await;
    let wrong = app.login(&user.email, "not-the-password-1").await;
    expect_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let other = app.register(&unique_email()).await;

    let path = format!("/api/admin/users/{}", user.id);
    let deleted = call(&app, Method::DELETE, &path, Some(&admin.access), None).await;
    expect_status(deleted, StatusCode::NO_CONTENT).await;
    let gone = call(&app, Method::GET, &path, Some(&admin.access), None).await;
    expect_error(gone, StatusCode::NOT_FOUND, "not_found").await;
    let twice = call(&app, Method::DELETE, &path, Some(&admin.access), None).await;
    expect_error(twice, StatusCode::NOT_FOUND, "not_found").await;
    expect_error(
        app.refresh(&refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;

    let mut conn = app.db_conn();
    for table in [
        "sessions",
        "blacklisted_tokens",
        "identities",
        "login_sources",
        "email_tokens",
    ] {
        assert_eq!(
            count(
                &mut conn,
                &format!(
                    "SELECT COUNT(*) AS n FROM {table} WHERE user_id = '{}'",
                    user.id
                )
            ),
            0,
            "{table}"
        );
    }
    assert_eq!(
        count(
            &mut conn,
            &format!(
                "SELECT COUNT(*) AS n FROM login_failures WHERE login_key = 'user:{}'",
                user.id
            )
        ),
        0
    );
    assert_eq!(
        count(
            &mut conn,
            &format!("SELECT COUNT(*) AS n FROM users WHERE id = '{}'", user.id)
        ),
        0
    );
    // The other user is untouched.
    expect_status(
        app.get_with_bearer("/api/auth/me", &other.access).await,
        StatusCode::OK,
    )
    .await;
    // The events stay, with the id but without where they came from.
    let kept = count(
        &mut conn,
        &format!(
            "SELECT COUNT(*) AS n FROM audit_events WHERE user_id = '{}'",
            user.id
        ),
    );
    assert!(kept >= 4, "{kept} events kept");
    let with_origin = count(&mut conn, &format!("SELECT COUNT(*) AS n FROM audit_events WHERE user_id = '{}' AND (ip <> '' OR user_agent <> '') AND event_type <> 'admin.user_deleted'", user.id));
    assert_eq!(with_origin, 0);
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

pub fn count(conn: &mut authd::db::DbConnection, query: &str) -> i64 {
    use diesel::RunQueryDsl;
    diesel::sql_query(query)
        .get_result::<Count>(conn)
        .unwrap()
        .n
}

fn cli(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let output = crate::process::run(&mut crate::process::authd(args, &app.db, &[]), None);
    (
        output.status.success(),
        crate::process::text(&output.stdout),
        crate::process::text(&output.stderr),
    )
}

async fn the_cli_administers_users_without_a_server(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let email = unique_email();
    let (ok, out, err) = cli(&app, &["users", "create", "--email", &email, "--staff"]);
    assert!(ok, "{err}");
    assert!(out.contains(&email), "{out}");
    let (ok, out, err) = cli(&app, &["users", "show", &email.to_uppercase(), "--json"]);
    assert!(ok, "{err}");
    let shown: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(shown["isStaff"], true);
    assert_eq!(shown["hasPassword"], false);
    let id = shown["id"].as_str().unwrap().to_owned();

    let (ok, out, err) = cli(
        &app,
        &[
            "users",
            "update",
            &id,
            "--first-name",
            "Cli",
            "--staff",
            "false",
            "--json",
        ],
    );
    assert!(ok, "{err}");
    let updated: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (updated["firstName"].as_str(), updated["isStaff"].as_bool()),
        (Some("Cli"), Some(false))
    );
    let (ok, _, err) = cli(
        &app,
        &["users", "update", &id, "--username", "bad name\u{1}"],
    );
    assert!(!ok && err.contains("username"), "{err}");

    // A user with a live session: deactivate ends it, activate lets them in again.
    let account = app.register(&unique_email()).await;
    let (ok, out, _) = cli(
        &app,
        &["users", "list", "--query", &account.email, "--json"],
    );
    assert!(ok);
    assert_eq!(out.lines().count(), 1, "{out}");
    let (ok, _, err) = cli(&app, &["users", "deactivate", &account.email]);
    assert!(ok, "{err}");
    expect_error(
        app.refresh(&account.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    let (ok, _, err) = cli(&app, &["users", "activate", &account.email]);
    assert!(ok, "{err}");
    let (_, refresh) = app.login_pair(&account.email).await;
    let (ok, out, err) = cli(&app, &["users", "logout", &account.id]);
    assert!(ok && out.contains("ended 1 session"), "{out}{err}");
    expect_error(
        app.refresh(&refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;

    let (ok, _, err) = cli(&app, &["users", "delete", &account.id]);
    assert!(!ok && err.contains("--yes"), "{err}");
    let (ok, _, err) = cli(&app, &["users", "delete", &account.id, "--yes"]);
    assert!(ok, "{err}");
    let (ok, _, err) = cli(&app, &["users", "show", &account.id]);
    assert!(!ok && err.contains("no user"), "{err}");

    let (ok, out, err) = cli(&app, &["audit", "--user", &account.id, "--json"]);
    assert!(ok, "{err}");
    let events: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by_cli: Vec<&str> = events
        .iter()
        .filter(|e| e["actor"] == "cli")
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        by_cli,
        [
            "admin.user_deleted",
            "admin.user_logged_out",
            "admin.user_updated",
            "admin.user_updated"
        ],
        "{events:#?}"
    );
    let (ok, _, err) = cli(&app, &["audit", "--type", "nonsense"]);
    assert!(!ok && err.contains("not an event type"), "{err}");
}
