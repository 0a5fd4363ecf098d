//! The move from the real Django reference (`../shared/peers/django-simplejwt`: Django 5.2,
//! DRF, simplejwt with its blacklist) to authd, end to end, with nobody logged out and nobody
//! asked for a new password. Users are made by Django itself (its register route, and
//! `make_password` with each hasher through `manage.py shell`), simplejwt issues, rotates and
//! blacklists their tokens, then authd imports Django's database (SQLite, or PostgreSQL in the
//! PostgreSQL run), every user signs in to authd with the same password, and each live
//! simplejwt refresh token is exchanged once for an authd pair.
//!
//! Needs a Python with the reference's requirements at AUTHD_TEST_DJANGO_PYTHON (.ci/run
//! makes one from PyPI with Debian's python3.11); skipped without it unless
//! AUTHD_TEST_REQUIRE_DJANGO=1.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::django_import::{import, DJANGO_SECRET};
use crate::helpers::{
    expect_error, expect_status, pair_of, start, test_settings, Backend, TestDatabase, PASSWORD,
};
use crate::process::{free_port, run, text};
use authd::db::users::User;

crate::on_both_backends!(django_users_and_their_sessions_move_to_authd);

/// Users made in Django, and the hasher each password was made with.
const USERS: [(&str, &str); 5] = [
    ("ann", "register"),
    ("pat", "pbkdf2_sha256"),
    ("sid", "pbkdf2_sha1"),
    ("sam", "scrypt"),
    ("ari", "argon2"),
];

struct DjangoPeer {
    python: PathBuf,
    dir: PathBuf,
    database_url: String,
    server: Option<Child>,
}

impl DjangoPeer {
    fn find(database_url: String) -> Option<Self> {
        let required = std::env::var("AUTHD_TEST_REQUIRE_DJANGO").is_ok_and(|v| v == "1");
        let python = std::env::var("AUTHD_TEST_DJANGO_PYTHON")
            .ok()
            .map(PathBuf::from);
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let dir = std::env::var("AUTHD_TEST_DJANGO_PEER")
            .ok()
            .map(PathBuf::from)
            .into_iter()
            .chain([
                manifest.join("../shared/peers/django-simplejwt"),
                PathBuf::from("/work/shared/peers/django-simplejwt"),
            ])
            .find(|dir| dir.join("manage.py").is_file());
        match (python.filter(|p| p.exists()), dir) {
            (Some(python), Some(dir)) => Some(Self {
                python,
                dir,
                database_url,
                server: None,
            }),
            _ if required => panic!(
                "AUTHD_TEST_REQUIRE_DJANGO=1 but AUTHD_TEST_DJANGO_PYTHON or the Django reference is missing"
            ),
            _ => {
                eprintln!("SKIPPING the Django reference test: set AUTHD_TEST_DJANGO_PYTHON to a Python with ../shared/peers/django-simplejwt/requirements.txt");
                None
            }
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.python);
        command
            .arg("manage.py")
            .args(args)
            .current_dir(&self.dir)
            .env("DATABASE_URL", &self.database_url)
            .env("SECRET_KEY", DJANGO_SECRET)
            .env("DEBUG", "False")
            .env("CONN_MAX_AGE", "0")
            // The reference's folder is shared: leave no bytecode in it.
            .env("PYTHONDONTWRITEBYTECODE", "1");
        command
    }

    fn manage(&self, args: &[&str], stdin: Option<&str>) -> String {
        let output = run(&mut self.command(args), stdin);
        assert!(
            output.status.success(),
            "manage.py {args:?}: {}",
            text(&output.stderr)
        );
        text(&output.stdout)
    }

    fn serve(&mut self) -> String {
        let port = free_port();
        let address = format!("127.0.0.1:{port}");
        let child = self
            .command(&["runserver", &address, "--noreload", "--nothreading"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("runserver starts");
        self.server = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(&address).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "Django did not start"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        format!("http://{address}")
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for DjangoPeer {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn django_post(
    client: &reqwest::Client,
    url: String,
    bearer: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let mut request = client.post(url).json(&body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// What a seed SPA sends in one life: register, log in, refresh, read the user, log out with
/// the blacklist, then try the logged-out token. Returns each answer's status; both servers
/// must give the same ones.
async fn seed_client_session(client: &reqwest::Client, base: &str, name: &str) -> Vec<StatusCode> {
    let mut statuses = Vec::new();
    let email = format!("{name}@example.com");
    let (status, registered) = django_post(
        client,
        format!("{base}/api/auth/register/"),
        None,
        json!({"username": name, "email": email, "password": PASSWORD}),
    )
    .await;
    statuses.push(status);
    assert!(
        registered["access"].is_string() && registered["refresh"].is_string(),
        "{registered}"
    );
    assert_eq!(registered["user"]["email"], email);
    let (status, pair) = django_post(
        client,
        format!("{base}/api/auth/token/"),
        None,
        json!({"username": name, "password": PASSWORD}),
    )
    .await;
    statuses.push(status);
    let (status, rotated) = django_post(
        client,
        format!("{base}/api/auth/token/refresh/"),
        None,
        json!({"refresh": pair["refresh"]}),
    )
    .await;
    statuses.push(status);
    let access = rotated["access"].as_str().unwrap();
    let user = client
        .get(format!("{base}/api/auth/user/"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    statuses.push(user.status());
    let user: Value = user.json().await.unwrap();
    assert_eq!(
        (user["username"].as_str(), user["email"].as_str()),
        (Some(name), Some(email.as_str()))
    );
    let (status, _) = django_post(
        client,
        format!("{base}/api/auth/logout/"),
        Some(access),
        json!({"refresh": rotated["refresh"]}),
    )
    .await;
    statuses.push(status);
    let (status, _) = django_post(
        client,
        format!("{base}/api/auth/token/refresh/"),
        None,
        json!({"refresh": rotated["refresh"]}),
    )
    .await;
    statuses.push(status);
    statuses
}

async fn django_users_and_their_sessions_move_to_authd(backend: Backend) {
    let django_db = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => match TestDatabase::create(Backend::Postgres) {
            Some(db) => Some(db),
            None => return,
        },
    };
    let sqlite_dir = tempfile::tempdir().unwrap();
    let database_url = match &django_db {
        Some(db) => db.url.clone(),
        None => format!(
            "sqlite:///{}",
            sqlite_dir.path().join("django.sqlite3").display()
        ),
    };
    let Some(mut peer) = DjangoPeer::find(database_url.clone()) else {
        return;
    };
    peer.manage(&["migrate", "--noinput"], None);
    let base = peer.serve();
    let client = reqwest::Client::new();

    // ann registers through Django's own route (the reference's default hasher, argon2);
    // the others get a password from Django's make_password with the named hasher.
    let (status, body) = django_post(
        &client,
        format!("{base}/api/auth/register/"),
        None,
        json!({"username": "ann", "email": "ann@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The script runs twice: Django re-hashes a password with its preferred hasher (argon2 in
    // the reference) at every login, so the hashers' own formats are set again after the
    // logins that obtain the tokens below.
    let set_hashes = format!(
        "from django.contrib.auth.models import User\n\
         from django.contrib.auth.hashers import make_password\n\
         for name, hasher in {:?}:\n\
         \x20   if hasher != 'register':\n\
         \x20       User.objects.update_or_create(username=name, defaults=dict(email=name + '@example.com', first_name=name.title(), last_name='Django', is_staff=(name == 'ari'), password=make_password('{PASSWORD}', hasher=hasher)))\n\
         print(sorted((u.username, u.password.split('$')[0]) for u in User.objects.all()))\n",
        USERS.iter().map(|(n, h)| (n.to_string(), h.to_string())).collect::<Vec<_>>()
    )
    .replace('"', "'");
    let check_formats = |made: &str| {
        for (name, hasher) in USERS {
            let format = if hasher == "register" {
                "argon2"
            } else {
                hasher
            };
            assert!(made.contains(&format!("('{name}', '{format}')")), "{made}");
        }
    };
    check_formats(&peer.manage(&["shell"], Some(&set_hashes)));

    // simplejwt pairs: one per user; pat's first is rotated (simplejwt blacklists it), sam's
    // first is logged out.
    let mut live = Vec::new();
    let mut blacklisted = Vec::new();
    for (name, _) in USERS {
        let (status, pair) = django_post(
            &client,
            format!("{base}/api/auth/token/"),
            None,
            json!({"username": name, "password": PASSWORD}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{name}: {pair}");
        let refresh = pair["refresh"].as_str().unwrap().to_owned();
        match name {
            "pat" => {
                let (status, rotated) = django_post(
                    &client,
                    format!("{base}/api/auth/token/refresh/"),
                    None,
                    json!({"refresh": refresh}),
                )
                .await;
                assert_eq!(status, StatusCode::OK, "{rotated}");
                blacklisted.push(refresh);
                live.push((name, rotated["refresh"].as_str().unwrap().to_owned()));
            }
            "sam" => {
                let access = pair["access"].as_str().unwrap();
                let (status, _) = django_post(
                    &client,
                    format!("{base}/api/auth/logout/"),
                    Some(access),
                    json!({"refresh": refresh}),
                )
                .await;
                assert_eq!(status, StatusCode::NO_CONTENT);
                blacklisted.push(refresh);
                let (_, second) = django_post(
                    &client,
                    format!("{base}/api/auth/token/"),
                    None,
                    json!({"username": name, "password": PASSWORD}),
                )
                .await;
                live.push((name, second["refresh"].as_str().unwrap().to_owned()));
            }
            _ => live.push((name, refresh)),
        }
    }
    let on_django = seed_client_session(&client, &base, "seed-django").await;
    check_formats(&peer.manage(&["shell"], Some(&set_hashes)));
    peer.stop();

    // authd, with the cut-over window open and Django's SECRET_KEY.
    let Some(db) = TestDatabase::create(backend) else {
        return;
    };
    let mut settings = test_settings(&db);
    settings.django.accept_simplejwt_until =
        (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    settings.django.secret_key = SecretString::from(DJANGO_SECRET.to_owned());
    let app = start(settings, db);
    let (ok, report) = import(&app, &database_url, &[]);
    assert!(ok, "{report}");
    // The five, and the seed client's own account.
    assert_eq!(report["created"], USERS.len() + 1, "{report}");
    // pat's rotated and sam's logged-out token, and the seed client's two.
    assert_eq!(report["blacklistedTokens"], 4, "{report}");

    // Sessions first (the SPA's stored tokens are the first thing to reach authd): every live
    // simplejwt refresh token crosses over once; the blacklisted ones do not.
    for (name, refresh) in &live {
        let response = app
            .post("/api/auth/token/refresh/", &json!({"refresh": refresh}))
            .await;
        let body = expect_status(response, StatusCode::OK).await;
        let (access, _) = pair_of(&body);
        let me = expect_status(
            app.get_with_bearer("/api/auth/user/", &access).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(me["email"], format!("{name}@example.com"));
        assert_eq!(me["username"], *name);
        let again = app
            .post("/api/auth/token/refresh/", &json!({"refresh": refresh}))
            .await;
        expect_error(again, StatusCode::UNAUTHORIZED, "token_reused").await;
    }
    for refresh in &blacklisted {
        let response = app
            .post("/api/auth/token/refresh/", &json!({"refresh": refresh}))
            .await;
        expect_error(response, StatusCode::UNAUTHORIZED, "token_revoked").await;
    }

    // Then every user signs in with the password they had in Django, and keeps it in authd's
    // own format from then on.
    for (name, hasher) in USERS {
        let before = User::find_by_username_key(&mut app.db_conn(), name)
            .unwrap()
            .unwrap();
        let stored = before.password_hash.unwrap();
        let format = if hasher == "register" {
            "argon2"
        } else {
            hasher
        };
        assert!(
            stored.starts_with(&format!("{format}$")),
            "{name}: {stored}"
        );
        let wrong = app
            .post(
                "/api/auth/token/",
                &json!({"username": name, "password": "not-the-password-1"}),
            )
            .await;
        expect_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        let login = app
            .post(
                "/api/auth/token/",
                &json!({"username": name, "password": PASSWORD}),
            )
            .await;
        let body = expect_status(login, StatusCode::OK).await;
        assert!(body["access"].is_string() && body["refresh"].is_string());
        let after = User::find_by_username_key(&mut app.db_conn(), name)
            .unwrap()
            .unwrap();
        let upgraded = after.password_hash.unwrap();
        assert!(upgraded.starts_with("$argon2id$"), "{name}: {upgraded}");
        let again = app
            .post(
                "/api/auth/token/",
                &json!({"username": name, "password": PASSWORD}),
            )
            .await;
        expect_status(again, StatusCode::OK).await;
    }
    // The seed client's requests, unchanged, get the answers Django gave.
    let on_authd = seed_client_session(&client, &app.address, "seed-authd").await;
    assert_eq!(on_authd, on_django);
    assert_eq!(
        on_django[..5],
        [
            StatusCode::CREATED,
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::NO_CONTENT
        ]
    );
    let ari = User::find_by_username_key(&mut app.db_conn(), "ari")
        .unwrap()
        .unwrap();
    assert!(ari.is_staff && ari.first_name == "Ari" && ari.legacy_id.is_some());
}
