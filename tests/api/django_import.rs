//! Moving from Django without Python: `authd import-django` on a database laid out exactly as
//! Django's migrations lay it out (auth_user, a profile table, simplejwt's blacklist). The
//! cut-over of simplejwt refresh tokens is in `simplejwt_cutover.rs`, the end-to-end test
//! against the real Django reference in `django_reference.rs`.

use diesel::{Connection, RunQueryDsl, SqliteConnection};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{claims_of, expect_status, pair_of, Backend, TestApp, PASSWORD};
use crate::process::{authd, run, text};
use authd::db::users::User;

crate::on_both_backends!(an_import_stops_at_conflicts_then_imports_once_and_updates_after);

/// The SECRET_KEY simplejwt signs with in these tests.
pub const DJANGO_SECRET: &str = "django-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz";

/// `violet-Tractor-42` under Django's pbkdf2_sha256 at 1,000 iterations: the digest computed
/// with Python's `hashlib.pbkdf2_hmac("sha256", password, b"fixturesalt1", 1000)`.
pub const PBKDF2_HASH: &str =
    "pbkdf2_sha256$1000$fixturesalt1$ym426GBnIKFwx8NmXoFqIE5sNaCgck7c08CviW0Z+4Y=";

/// A Django SQLite database with the tables as Django 5.2's migrations create them.
pub struct DjangoDb {
    pub path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl DjangoDb {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        let db = Self { path, _dir: dir };
        db.execute(
            r#"CREATE TABLE "auth_user" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "password" varchar(128) NOT NULL, "last_login" datetime NULL, "is_superuser" bool NOT NULL, "username" varchar(150) NOT NULL UNIQUE, "last_name" varchar(150) NOT NULL, "email" varchar(254) NOT NULL, "is_staff" bool NOT NULL, "is_active" bool NOT NULL, "date_joined" datetime NOT NULL, "first_name" varchar(150) NOT NULL);
            CREATE TABLE "api_profile" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "phone" varchar(32) NOT NULL, "user_id" integer NOT NULL UNIQUE REFERENCES "auth_user" ("id"));
            CREATE TABLE "token_blacklist_outstandingtoken" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "token" text NOT NULL, "created_at" datetime NULL, "expires_at" datetime NOT NULL, "user_id" integer NULL REFERENCES "auth_user" ("id"), "jti" varchar(255) NOT NULL UNIQUE);
            CREATE TABLE "token_blacklist_blacklistedtoken" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "blacklisted_at" datetime NOT NULL, "token_id" bigint NOT NULL UNIQUE REFERENCES "token_blacklist_outstandingtoken" ("id"));"#,
        );
        db
    }

    pub fn execute(&self, sql: &str) {
        let mut conn = SqliteConnection::establish(&self.path.to_string_lossy()).unwrap();
        diesel::connection::SimpleConnection::batch_execute(&mut conn, sql).unwrap();
    }

    #[allow(clippy::too_many_arguments)]
    pub fn add_user(
        &self,
        id: i64,
        username: &str,
        email: &str,
        password: &str,
        last_login: Option<&str>,
        staff: bool,
        active: bool,
    ) {
        let last_login = last_login.map_or("NULL".to_owned(), |t| format!("'{t}'"));
        self.execute(&format!(
            "INSERT INTO auth_user (id, password, last_login, is_superuser, username, last_name, \
             email, is_staff, is_active, date_joined, first_name) VALUES ({id}, '{password}', \
             {last_login}, {staff}, '{username}', 'Lee', '{email}', 0, {active}, \
             '2024-05-06 07:08:09.123456', 'Ann')",
            staff = staff as i32,
            active = active as i32,
        ));
    }

    /// A simplejwt refresh token its token_blacklist app has blacklisted.
    pub fn blacklist(&self, id: i64, jti: &str, user_id: i64, expires_at: &str) {
        self.execute(&format!(
            "INSERT INTO token_blacklist_outstandingtoken (id, token, created_at, expires_at, \
             user_id, jti) VALUES ({id}, '', NULL, '{expires_at}', {user_id}, '{jti}');
             INSERT INTO token_blacklist_blacklistedtoken (blacklisted_at, token_id) VALUES \
             ('2026-01-01 00:00:00', {id});"
        ));
    }

    pub fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }
}

/// `authd import-django --from <url> --json ARGS` on the app's database: exit status and report.
pub fn import(app: &TestApp, from: &str, args: &[&str]) -> (bool, Value) {
    let mut all = vec!["import-django", "--from", from, "--json"];
    all.extend_from_slice(args);
    let output = run(&mut authd(&all, &app.db, &[]), None);
    let stdout = text(&output.stdout);
    let report = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|_| panic!("no JSON report: {stdout}\nstderr: {}", text(&output.stderr)));
    (output.status.success(), report)
}

fn kinds(report: &Value) -> Vec<(String, String)> {
    report["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["legacyId"].as_str().unwrap().to_owned(),
                c["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn user_by_legacy_id(app: &TestApp, id: &str) -> Option<User> {
    User::find_by_legacy_id(&mut app.db_conn(), id).unwrap()
}

fn user_count(app: &TestApp) -> i64 {
    use authd::db::schema::users;
    use diesel::QueryDsl;
    users::table.count().get_result(&mut app.db_conn()).unwrap()
}

async fn an_import_stops_at_conflicts_then_imports_once_and_updates_after(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    let django = DjangoDb::new();
    django.add_user(
        1,
        "alice",
        "alice@example.com",
        PBKDF2_HASH,
        Some("2026-11-01 10:00:00.5"),
        true,
        true,
    );
    django.add_user(
        2,
        "bob",
        "Bob@Example.com",
        PBKDF2_HASH,
        Some("2025-01-01 10:00:00"),
        false,
        true,
    );
    django.add_user(
        3,
        "bobby",
        "bob@example.com",
        PBKDF2_HASH,
        Some("2026-01-01 10:00:00"),
        false,
        true,
    );
    django.add_user(4, "carol", "", PBKDF2_HASH, None, false, true);
    django.add_user(5, "dave", "not-an-email", PBKDF2_HASH, None, false, true);
    django.add_user(
        6,
        "ALICE",
        "alice2@example.com",
        PBKDF2_HASH,
        None,
        false,
        true,
    );
    django.add_user(
        7,
        "erin",
        "erin@example.com",
        "!unusablepassword",
        None,
        false,
        false,
    );
    django.execute(
        "INSERT INTO api_profile (phone, user_id) VALUES ('+1 555 0100', 1), ('call me', 7);",
    );
    django.blacklist(1, "logged-out-jti", 1, "2099-01-01 00:00:00");
    django.blacklist(2, "long-expired-jti", 1, "2020-01-01 00:00:00");
    let phone = ["--phone-from", "api_profile.phone"];
    let expected = [
        ("2", "duplicate_email"),
        ("4", "no_email"),
        ("5", "invalid_email"),
        ("6", "duplicate_username"),
        ("7", "invalid_phone"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(id, kind)| (id.to_string(), kind.to_string()))
        .collect();

    // Conflicts stop both the dry run and the real one, before anything is written.
    for dry in [true, false] {
        let mut args = phone.to_vec();
        if dry {
            args.push("--dry-run");
        }
        let (ok, report) = import(&app, &django.url(), &args);
        assert!(!ok, "conflicts exit non-zero: {report}");
        assert_eq!(kinds(&report), expected, "{report}");
        assert_eq!(report["users"], 7);
        assert_eq!(user_count(&app), 0, "nothing written");
    }
    let (ok, report) = import(
        &app,
        &django.url(),
        &[&phone[..], &["--dry-run", "--skip-conflicts"]].concat(),
    );
    assert!(ok, "{report}");
    assert_eq!(
        (report["created"].as_u64(), report["skipped"].as_u64()),
        (Some(0), Some(3))
    );
    assert_eq!(report["blacklistedTokens"], 1, "{report}");
    assert_eq!(user_count(&app), 0, "a dry run writes nothing");

    let (ok, report) = import(
        &app,
        &django.url(),
        &[&phone[..], &["--skip-conflicts"]].concat(),
    );
    assert!(ok, "{report}");
    assert_eq!(report["created"], 4, "{report}");
    assert_eq!(report["skipped"], 3);
    assert_eq!(
        report["blacklistedTokens"], 1,
        "only the token that has not expired"
    );
    assert_eq!(
        report["hashFormats"],
        json!({"pbkdf2_sha256": 6, "unusable": 1})
    );
    assert_eq!(user_count(&app), 4);

    let alice = user_by_legacy_id(&app, "1").unwrap();
    assert_eq!(alice.email, "alice@example.com");
    assert_eq!(alice.username.as_deref(), Some("alice"));
    assert!(alice.is_staff, "is_superuser maps to isStaff");
    assert_eq!(alice.phone, "+1 555 0100");
    assert_eq!(
        alice.password_hash.as_deref(),
        Some(PBKDF2_HASH),
        "stored as Django stored it"
    );
    assert_eq!(alice.created_at.to_string(), "2024-05-06 07:08:09.123456");
    assert_eq!(
        alice.last_login_at.unwrap().to_string(),
        "2026-11-01 10:00:00.500"
    );
    assert_eq!(
        user_by_legacy_id(&app, "3").unwrap().email,
        "bob@example.com",
        "the newer login keeps the email"
    );
    assert!(user_by_legacy_id(&app, "2").is_none());
    assert!(
        user_by_legacy_id(&app, "6").unwrap().username.is_none(),
        "the username was dropped"
    );
    let erin = user_by_legacy_id(&app, "7").unwrap();
    assert!(!erin.is_active);
    assert_eq!(erin.phone, "", "the malformed phone was dropped");

    // The imported users sign in with their Django password, by username as Django clients do
    // or by email; the hash becomes authd's argon2id. The unusable one stays unusable.
    let login = app
        .post(
            "/api/auth/token/",
            &json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    let body = expect_status(login, StatusCode::OK).await;
    assert_eq!(claims_of(&pair_of(&body).0)["email"], "alice@example.com");
    let upgraded = user_by_legacy_id(&app, "1").unwrap().password_hash.unwrap();
    assert!(upgraded.starts_with("$argon2id$"), "{upgraded}");
    // alice was a Django superuser, so she administers authd; admins see where users came from.
    let (alice_access, _) = pair_of(&body);
    let erin_id = user_by_legacy_id(&app, "7").unwrap().id;
    let erin = app
        .get_with_bearer(&format!("/api/admin/users/{erin_id}"), &alice_access)
        .await;
    let erin = expect_status(erin, StatusCode::OK).await;
    assert_eq!(
        (erin["legacyId"].as_str(), erin["lastLoginAt"].is_null()),
        (Some("7"), true)
    );
    let alice_id = user_by_legacy_id(&app, "1").unwrap().id;
    let alice = app
        .get_with_bearer(&format!("/api/admin/users/{alice_id}"), &alice_access)
        .await;
    let alice = expect_status(alice, StatusCode::OK).await;
    assert!(
        alice["lastLoginAt"].as_str().unwrap() > "2026-11-01T10:00:01",
        "the login here is the last one: {alice}"
    );
    let login = app
        .post(
            "/api/auth/login",
            &json!({"email": "bob@example.com", "password": PASSWORD}),
        )
        .await;
    expect_status(login, StatusCode::OK).await;
    for password in [PASSWORD, "!unusablepassword", "unusablepassword", ""] {
        let login = app
            .post(
                "/api/auth/login",
                &json!({"email": "erin@example.com", "password": password}),
            )
            .await;
        assert_eq!(login.status(), StatusCode::UNAUTHORIZED);
    }

    // Again: nothing new, nothing duplicated, and alice's authd password is kept.
    let (ok, report) = import(
        &app,
        &django.url(),
        &[&phone[..], &["--skip-conflicts"]].concat(),
    );
    assert!(ok, "{report}");
    assert_eq!(
        (
            report["created"].as_u64(),
            report["updated"].as_u64(),
            report["unchanged"].as_u64()
        ),
        (Some(0), Some(0), Some(4)),
        "{report}"
    );
    assert_eq!(user_count(&app), 4);
    assert_eq!(
        user_by_legacy_id(&app, "1").unwrap().password_hash.unwrap(),
        upgraded
    );

    // A change in Django since is carried over, and deactivating ends authd's sessions.
    django.execute("UPDATE auth_user SET first_name = 'Robert', is_active = 0 WHERE id = 3;");
    let (_, bob_refresh) = pair_of_login(&app, "bob@example.com").await;
    let (ok, report) = import(
        &app,
        &django.url(),
        &[&phone[..], &["--skip-conflicts"]].concat(),
    );
    assert!(ok, "{report}");
    assert_eq!(
        (report["created"].as_u64(), report["updated"].as_u64()),
        (Some(0), Some(1))
    );
    let bob = user_by_legacy_id(&app, "3").unwrap();
    assert_eq!((bob.first_name.as_str(), bob.is_active), ("Robert", false));
    let refused = app.refresh(&bob_refresh).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    // Names that cannot be SQL reach no SQL.
    let output = run(
        &mut authd(
            &[
                "import-django",
                "--from",
                &django.url(),
                "--phone-from",
                "api_profile;drop.x",
            ],
            &app.db,
            &[],
        ),
        None,
    );
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("not a plain table or column name"));
    let output = run(
        &mut authd(
            &["import-django", "--from", "/nonexistent/db.sqlite3"],
            &app.db,
            &[],
        ),
        None,
    );
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("cannot open the Django database"),
        "{}",
        text(&output.stderr)
    );
}

async fn pair_of_login(app: &TestApp, email: &str) -> (String, String) {
    let login = app
        .post(
            "/api/auth/login",
            &json!({"email": email, "password": PASSWORD}),
        )
        .await;
    pair_of(&expect_status(login, StatusCode::OK).await)
}
