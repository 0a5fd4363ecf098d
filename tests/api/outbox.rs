//! Delivery through the outbox: an SMTP outage loses nothing, a temporary refusal is retried
//! once, several processes never send one message twice, `authd outbox` shows and retries what
//! is stuck, development mail goes to a folder, and no token, code or SMTP password is logged.

use std::collections::BTreeSet;
use std::time::Duration;

use authd::db::outbox::OutboxMessage;
use reqwest::StatusCode;
use serde_json::json;

use crate::email::spawn_with_smtp;
use crate::helpers::{
    expect_status, spawn_app, start_on, test_settings, unique_email, Backend, TestDatabase,
    PASSWORD,
};
use crate::process::{authd, run, text, RunningServer};
use crate::smtp::SmtpServer;

/// The server is down when the message is written: the request succeeds, and the message is
/// delivered once the server is back.
#[tokio::test]
async fn an_smtp_outage_loses_nothing() {
    let Some(mut smtp) = SmtpServer::start(0) else {
        return;
    };
    smtp.stop();
    let Some(app) = spawn_with_smtp(Backend::Sqlite, &smtp, |_| {}).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    smtp.restart(0).unwrap();
    smtp.wait_for(&account.email, 0).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(smtp.messages().len(), 1);
}

/// A 451 and then a 250: exactly one delivery.
#[tokio::test]
async fn a_temporary_refusal_is_retried_and_delivered_once() {
    let Some(smtp) = SmtpServer::start(1) else {
        return;
    };
    let Some(app) = spawn_with_smtp(Backend::Sqlite, &smtp, |_| {}).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    smtp.wait_for(&account.email, 0).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(smtp.messages().len(), 1);
}

/// Two authd processes on one PostgreSQL database, 50 messages waiting: each is delivered
/// exactly once.
#[tokio::test]
async fn two_processes_deliver_each_message_once() {
    let Some(smtp) = SmtpServer::start(0) else {
        return;
    };
    let Some(db) = TestDatabase::create(Backend::Postgres) else {
        return;
    };
    let db = std::sync::Arc::new(db);
    let mut conn = authd::db::DbTarget::parse(&db.url)
        .unwrap()
        .connect()
        .unwrap();
    authd::db::run_migrations(&mut conn).unwrap();
    let now = authd::db::now();
    for i in 0..50 {
        OutboxMessage::new(
            "queue@example.com",
            &format!("message {i}"),
            "text",
            "<p>html</p>",
            now,
        )
        .insert(&mut conn)
        .unwrap();
    }
    let replicas: Vec<_> = (0..2)
        .map(|_| {
            let mut settings = test_settings(&db);
            settings.email.enabled = true;
            settings.email.smtp_url = secrecy::SecretString::from(smtp.url());
            start_on(settings, db.clone())
        })
        .collect();
    smtp.wait_for("queue@example.com", 49).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let subjects: Vec<String> = smtp.messages().into_iter().map(|m| m.subject).collect();
    let distinct: BTreeSet<&String> = subjects.iter().collect();
    assert_eq!(subjects.len(), 50, "{subjects:?}");
    assert_eq!(distinct.len(), 50);
    drop(replicas);
}

/// A message that cannot be delivered is kept, shown by `authd outbox`, and sent when retried.
#[tokio::test]
async fn failed_messages_stay_visible_and_can_be_retried() {
    let Some(mut smtp) = SmtpServer::start(0) else {
        return;
    };
    smtp.stop();
    let Some(app) = spawn_with_smtp(Backend::Sqlite, &smtp, |s| s.email.max_attempts = 1).await
    else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let vars = [("AUTHD__DATABASE__URL", app.db.url.as_str())];
    let listed = loop {
        let output = run(&mut authd(&["outbox"], &app.db, &vars), None);
        assert!(output.status.success(), "{}", text(&output.stderr));
        let listed = text(&output.stdout);
        if listed.contains("failed") {
            break listed;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(listed.contains(&account.email), "{listed}");
    let id = listed
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    smtp.restart(0).unwrap();
    let retried = run(&mut authd(&["outbox", "retry", id], &app.db, &vars), None);
    assert!(retried.status.success(), "{}", text(&retried.stderr));
    smtp.wait_for(&account.email, 0).await;
    let unknown = run(
        &mut authd(&["outbox", "retry", "nope"], &app.db, &vars),
        None,
    );
    assert!(!unknown.status.success());
}

/// Without `email.smtp_url` (local profile) messages are files in the development folder.
#[tokio::test]
async fn development_mail_goes_to_a_folder() {
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let folder = app.db.dir.path().join("mail");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let message = loop {
        let found = std::fs::read_dir(&folder).ok().and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .find(|e| e.path().extension().is_some_and(|x| x == "eml"))
        });
        if let Some(entry) = found {
            break std::fs::read_to_string(entry.path()).unwrap();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no file in {}",
            folder.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(message.contains(&account.email), "{message}");
}

/// Tokens, codes and the SMTP password reach the mailbox and nothing else: not the log.
#[tokio::test]
async fn no_token_code_or_smtp_password_is_logged() {
    let Some(smtp) = SmtpServer::start(0) else {
        return;
    };
    let db = TestDatabase::create(Backend::Sqlite).unwrap();
    let server = RunningServer::start(
        &db,
        &[
            ("RUST_LOG", "trace"),
            ("AUTHD__EMAIL__SMTP_URL", &smtp.url()),
            ("AUTHD__RATE_LIMIT__EMAIL_SEND_PER_ADDRESS", "off"),
        ],
    );
    let client = reqwest::Client::new();
    let email = unique_email();
    let post = |path: &str, body: serde_json::Value| {
        client
            .post(format!("{}{path}", server.base))
            .json(&body)
            .send()
    };
    let registered = post(
        "/api/auth/register",
        json!({ "email": email, "password": PASSWORD }),
    )
    .await
    .unwrap();
    expect_status(registered, StatusCode::CREATED).await;
    post("/api/auth/password/reset", json!({ "email": email }))
        .await
        .unwrap();
    post("/api/auth/email/signin", json!({ "email": email }))
        .await
        .unwrap();
    let signin = smtp.wait_for(&email, 2).await;
    let secrets = [
        smtp.wait_for(&email, 0).await.token(),
        smtp.wait_for(&email, 1).await.token(),
        signin.token(),
        format!("code: {}", signin.code()),
    ];
    // A second server whose SMTP URL has a password (its deliveries fail: no AUTH offered).
    let other = TestDatabase::create(Backend::Sqlite).unwrap();
    let smtp_password = "Sm7p-Pa55word-Xyz";
    let with_password = RunningServer::start(
        &other,
        &[
            ("RUST_LOG", "trace"),
            (
                "AUTHD__EMAIL__SMTP_URL",
                &format!("smtp://authd:{smtp_password}@127.0.0.1:{}", smtp.port),
            ),
        ],
    );
    client
        .post(format!("{}/api/auth/register", with_password.base))
        .json(&json!({ "email": unique_email(), "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let log = server.log_text();
    assert!(
        log.contains("delivered"),
        "no delivery lines in the log:\n{log}"
    );
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "a secret reached the log: {secret}"
        );
    }
    let other_log = with_password.log_text();
    assert!(other_log.contains("not delivered"), "{other_log}");
    assert!(
        !other_log.contains(smtp_password),
        "the SMTP password reached the log"
    );
}
