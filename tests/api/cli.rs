//! The `authd` binary itself: its commands, its configuration from the environment, and
//! what it writes to its log.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    claims_of, expect_status, pair_of, spawn_app_with, start, test_settings, Backend, TestDatabase,
    PASSWORD,
};
use crate::process::{authd, run, text, RunningServer};

#[test]
fn every_command_has_help() {
    let db = TestDatabase::create(Backend::Sqlite).unwrap();
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["create-user", "--help"],
        vec!["flush-expired", "--help"],
        vec!["healthcheck", "--help"],
        vec!["keys", "generate", "--help"],
        vec!["keys", "list", "--help"],
        vec!["services", "new-token", "--help"],
    ] {
        let output = run(&mut authd(&args, &db, &[]), None);
        assert!(output.status.success(), "{args:?}");
        assert!(
            text(&output.stdout).contains("Usage"),
            "{args:?}: {}",
            text(&output.stdout)
        );
    }
}

async fn migrate_and_create_user_from_the_command_line(backend: Backend) {
    let Some(db) = TestDatabase::create(backend) else {
        return;
    };
    let first = run(&mut authd(&["migrate"], &db, &[]), None);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .count();
    let expected = format!("applied {migrations} migration(s)");
    assert!(
        text(&first.stdout).contains(&expected),
        "{}",
        text(&first.stdout)
    );
    let again = run(&mut authd(&["migrate"], &db, &[]), None);
    assert!(text(&again.stdout).contains("applied 0 migration(s)"));

    let create = [
        "create-user",
        "--email",
        "Root@Example.com",
        "--staff",
        "--password-stdin",
    ];
    let created = run(
        &mut authd(&create, &db, &[]),
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(
        created.status.success(),
        "{:?} {} {}",
        created.status,
        text(&created.stdout),
        text(&created.stderr)
    );
    let duplicate = run(
        &mut authd(&create, &db, &[]),
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(!duplicate.status.success());
    assert!(text(&duplicate.stderr).contains("already exists"));
    let weak = [
        "create-user",
        "--email",
        "weak@example.com",
        "--password-stdin",
    ];
    let refused = run(&mut authd(&weak, &db, &[]), Some("password\n"));
    assert!(!refused.status.success());
    assert!(text(&refused.stderr).contains("password"));

    let app = start(test_settings(&db), db);
    let body = expect_status(
        app.login("root@example.com", PASSWORD).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["user"]["isStaff"], true);
    assert_eq!(claims_of(body["access"].as_str().unwrap())["isStaff"], true);
    expect_status(
        app.login("weak@example.com", "password").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

async fn flush_expired_deletes_what_has_expired(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| {
        // Long enough that the first flush comes before anything expires even on a loaded
        // machine (registration hashes a password); 1 s made this test flaky.
        s.jwt.refresh_ttl_secs = 4;
        s.jwt.leeway_secs = 0;
    })
    .await
    else {
        return;
    };
    let account = app.register(&crate::helpers::unique_email()).await;
    expect_status(app.refresh(&account.refresh).await, StatusCode::OK).await;
    let live = app.register(&crate::helpers::unique_email()).await;
    let nothing_yet = run(&mut authd(&["flush-expired"], &app.db, &[]), None);
    assert!(text(&nothing_yet.stdout)
        .contains("deleted 0 expired blacklist row(s) and 0 expired session(s)"));
    tokio::time::sleep(Duration::from_millis(5100)).await;
    let _ = live;
    let flushed = run(&mut authd(&["flush-expired"], &app.db, &[]), None);
    assert!(flushed.status.success(), "{}", text(&flushed.stderr));
    assert!(
        text(&flushed.stdout)
            .contains("deleted 1 expired blacklist row(s) and 2 expired session(s)"),
        "{}",
        text(&flushed.stdout)
    );
}

/// `keys list` shows the key that signs (with the kid tokens carry) and creates nothing.
#[test]
fn keys_list_shows_the_configured_keys_and_creates_none() {
    let db = TestDatabase::create(Backend::Sqlite).unwrap();
    let generated = db.dir.path().join("authd-signing-key.pem");
    let missing = run(&mut authd(&["keys", "list"], &db, &[]), None);
    assert!(!missing.status.success());
    assert!(
        text(&missing.stderr).contains("no signing key"),
        "{}",
        text(&missing.stderr)
    );
    assert!(!generated.exists(), "keys list generated a key");

    let path = db.dir.path().join("signing.pem");
    let path_arg = path.to_str().unwrap();
    let made = run(
        &mut authd(&["keys", "generate", "--out", path_arg], &db, &[]),
        None,
    );
    assert!(made.status.success());
    let vars = [("AUTHD__JWT__PRIVATE_KEY_FILE", path_arg)];
    let listed = run(&mut authd(&["keys", "list", "--json"], &db, &vars), None);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let rows: Vec<serde_json::Value> = text(&listed.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let mut jwt = test_settings(&db).jwt;
    jwt.private_key_file = path_arg.to_owned();
    let ring = authd::auth::keys::KeyRing::load(&jwt, db.dir.path()).unwrap();
    let kid = &ring.signing.as_ref().unwrap().kid;
    assert_eq!(
        rows,
        vec![json!({
            "kid": kid, "algorithm": "EdDSA", "source": "config", "state": "signing",
            "published": true, "activatesAt": null, "retiresAt": null, "unpublishedAt": null,
        })]
    );
    let table = run(&mut authd(&["keys", "list"], &db, &vars), None);
    assert!(text(&table.stdout).contains(kid.as_str()));
}

#[test]
fn keys_generate_writes_a_private_key_and_its_public_half() {
    let db = TestDatabase::create(Backend::Sqlite).unwrap();
    let to_stdout = run(&mut authd(&["keys", "generate"], &db, &[]), None);
    assert!(text(&to_stdout.stdout).starts_with("-----BEGIN PRIVATE KEY-----"));
    for algorithm in ["EdDSA", "ES256", "RS256"] {
        let path = db.dir.path().join(format!("{algorithm}.pem"));
        let path_arg = path.to_str().unwrap();
        let args = [
            "keys",
            "generate",
            "--algorithm",
            algorithm,
            "--out",
            path_arg,
        ];
        let output = run(&mut authd(&args, &db, &[]), None);
        assert!(output.status.success(), "{}", text(&output.stderr));
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let public = std::fs::read_to_string(format!("{path_arg}.pub")).unwrap();
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"), "{public}");
        let overwrite = run(&mut authd(&args, &db, &[]), None);
        assert!(
            !overwrite.status.success(),
            "an existing key was overwritten"
        );
    }
}

#[test]
fn the_production_profile_refuses_unsafe_settings() {
    let db = TestDatabase::create(Backend::Sqlite).unwrap();
    let unsafe_vars = [
        ("AUTHD_ENV", "production"),
        ("AUTHD__JWT__ALGORITHM", "HS256"),
        ("AUTHD__JWT__SECRET", "too-short"),
        ("AUTHD__JWT__ISSUER", "http://auth.example"),
        ("AUTHD__CORS__ALLOWED_ORIGINS", "https://app.example,*"),
    ];
    let output = run(&mut authd(&["serve"], &db, &unsafe_vars), None);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    for problem in ["32 bytes", "wildcard", "https"] {
        assert!(
            stderr.contains(problem),
            "{problem:?} not explained in: {stderr}"
        );
    }
    let no_key = [
        ("AUTHD_ENV", "production"),
        ("AUTHD__JWT__ISSUER", "https://auth.example"),
    ];
    let output = run(&mut authd(&["serve"], &db, &no_key), None);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("no signing key"),
        "{}",
        text(&output.stderr)
    );
    // Any profile but `local` is held to the same rules.
    let staging = [
        ("AUTHD_ENV", "staging"),
        ("AUTHD__CORS__ALLOWED_ORIGINS", "*"),
    ];
    let output = run(&mut authd(&["serve"], &db, &staging), None);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    for problem in ["staging profile", "wildcard", "https", "no signing key"] {
        assert!(
            stderr.contains(problem),
            "{problem:?} not explained in: {stderr}"
        );
    }
}

#[test]
fn a_malformed_env_file_line_is_reported_without_its_content() {
    let db = TestDatabase::create(Backend::Sqlite).unwrap();
    let secret = "hunter2-Secret-Value-9";
    std::fs::write(
        db.dir.path().join(".env"),
        format!("RUST_LOG=warn\nAUTHD__JWT__SECRET {secret}\n"),
    )
    .unwrap();
    let output = run(&mut authd(&["migrate"], &db, &[]), None);
    let stderr = text(&output.stderr);
    assert!(stderr.contains("ignoring the rest of .env"), "{stderr}");
    assert!(
        !stderr.contains(secret),
        "the secret reached the log: {stderr}"
    );
}

/// Settings built in code, not loaded, are checked as well.
#[test]
fn application_build_refuses_unsafe_settings() {
    let db = TestDatabase::create(Backend::Sqlite).unwrap();
    let mut settings = test_settings(&db);
    settings.profile = "production".into();
    settings.jwt.generate_key = false;
    settings.cors.allowed_origins = vec!["*".into()];
    let error = authd::startup::Application::build(settings)
        .err()
        .expect("unsafe settings are refused");
    assert!(error.to_string().contains("wildcard"), "{error}");
}

#[tokio::test]
async fn environment_variables_configure_the_binary_and_no_secret_reaches_its_log() {
    let db = TestDatabase::create(Backend::Sqlite).unwrap();
    let server = RunningServer::start(
        &db,
        &[
            ("RUST_LOG", "trace"),
            ("AUTHD__JWT__ACCESS_TTL_SECS", "5"),
            (
                "AUTHD__CORS__ALLOWED_ORIGINS",
                "https://a.example,https://b.example",
            ),
        ],
    );
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", server.base);
    let email = "secret.keeper@example.com";
    let register = client
        .post(url("/api/auth/register"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let body = expect_status(register, StatusCode::CREATED).await;
    let claims = claims_of(body["access"].as_str().unwrap());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        5,
        "AUTHD__JWT__ACCESS_TTL_SECS was not applied"
    );
    let (access, refresh) = pair_of(&body);
    let wrong_password = "violet-Tractor-99";
    let bad_login = client
        .post(url("/api/auth/login"))
        .json(&json!({ "email": email, "password": wrong_password }))
        .send()
        .await
        .unwrap();
    expect_status(bad_login, StatusCode::UNAUTHORIZED).await;
    let refreshed = client
        .post(url("/api/auth/refresh"))
        .json(&json!({ "refresh": refresh }))
        .send()
        .await
        .unwrap();
    let (access2, refresh2) = pair_of(&expect_status(refreshed, StatusCode::OK).await);
    let me = client
        .get(url("/api/auth/me"))
        .bearer_auth(&access2)
        .send()
        .await
        .unwrap();
    expect_status(me, StatusCode::OK).await;
    let invalid = client
        .get(url("/api/auth/me"))
        .bearer_auth(format!("{access}x"))
        .send()
        .await
        .unwrap();
    expect_status(invalid, StatusCode::UNAUTHORIZED).await;
    let logout = client
        .post(url("/api/auth/logout"))
        .json(&json!({ "refresh": refresh2 }))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let preflight = client
        .request(reqwest::Method::OPTIONS, url("/api/auth/login"))
        .header("Origin", "https://b.example")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://b.example"
    );

    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = server.log_text();
    // The log was captured (so the absence checks below mean something)...
    assert!(
        log.contains("POST /api/auth/login"),
        "no request lines in the log:\n{log}"
    );
    // ...and holds no password, token, or token signature.
    let signature = |token: &str| token.rsplit('.').next().unwrap().to_owned();
    for secret in [
        PASSWORD,
        wrong_password,
        &access,
        &refresh,
        &access2,
        &refresh2,
    ]
    .into_iter()
    .map(str::to_owned)
    .chain([signature(&access), signature(&refresh2)])
    {
        assert!(!log.contains(&secret), "a secret reached the log: {secret}");
    }
    let key = std::fs::read_to_string(db.dir.path().join("authd-signing-key.pem")).unwrap();
    let key_body = key.lines().nth(1).unwrap();
    assert!(!log.contains(key_body), "the signing key reached the log");
}

crate::on_both_backends!(
    migrate_and_create_user_from_the_command_line,
    flush_expired_deletes_what_has_expired
);
