//! `spawn_app()`: a real authd on a free port with a fresh database, per test.

use std::path::PathBuf;
use std::sync::Arc;

use authd::config::{Settings, Sources};
use authd::startup::Application;
use diesel::{Connection, PgConnection, RunQueryDsl};
use reqwest::{Response, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};

pub const PASSWORD: &str = "violet-Tractor-42";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn name(backend: Backend)` once per backend, as `sqlite::name` and
/// `postgres::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::$name($crate::helpers::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() { super::$name($crate::helpers::Backend::Postgres).await })*
        }
    };
}

pub use crate::services::{postgres_admin_url, postgres_available, redis_available, redis_url};

/// A fresh, empty database; dropped with the value.
pub struct TestDatabase {
    pub url: String,
    pg_name: Option<String>,
    pub dir: tempfile::TempDir,
}

impl TestDatabase {
    pub fn create(backend: Backend) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => Some(Self {
                url: format!("sqlite://{}", dir.path().join("authd.db").display()),
                pg_name: None,
                dir,
            }),
            Backend::Postgres => {
                if !postgres_available() {
                    return None;
                }
                let name = format!("authd_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::establish(&postgres_admin_url()).expect("postgres");
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .expect("create database");
                let base = postgres_admin_url();
                let server = base
                    .rsplit_once('/')
                    .map_or(base.as_str(), |(server, _)| server);
                Some(Self {
                    url: format!("{server}/{name}"),
                    pg_name: Some(name),
                    dir,
                })
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_name {
            if let Ok(mut admin) = PgConnection::establish(&postgres_admin_url()) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin);
            }
        }
    }
}

/// Settings for a test: the compiled-in defaults (no files, no environment), a free port,
/// cheap argon2 parameters and a key generated into the test's own folder.
pub fn test_settings(db: &TestDatabase) -> Settings {
    let mut settings = Settings::from_sources(Sources {
        profile: "local",
        config_dir: None,
        environment: false,
    })
    .expect("default settings");
    settings.server.port = 0;
    settings.server.workers = 2;
    settings.database.url = SecretString::from(db.url.clone());
    settings.database.max_connections = 4;
    settings.jwt.generate_key = true;
    settings.jwt.private_key_file = key_path(db).display().to_string();
    settings.password.memory_kib = 1024;
    settings.password.iterations = 1;
    // The local profile writes messages to a folder: the test's own.
    settings.email.dev_mail_dir = db.dir.path().join("mail").display().to_string();
    settings
}

pub fn key_path(db: &TestDatabase) -> PathBuf {
    db.dir.path().join("signing-key.pem")
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
    // Dropped after the server has stopped; shared by the replicas of one database.
    pub db: Arc<TestDatabase>,
}

impl TestApp {
    /// The server runs in its own thread and actix system; stopping it closes its pool.
    fn stop(&mut self) {
        futures::executor::block_on(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// Stops the server and starts a new one on the same database and settings.
    pub fn restart(&mut self) {
        self.stop();
        let (address, handle, thread) = run_server(&self.settings);
        self.address = address;
        self.handle = handle;
        self.thread = Some(thread);
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop();
    }
}

pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(
    backend: Backend,
    customise: impl FnOnce(&mut Settings),
) -> Option<TestApp> {
    let db = TestDatabase::create(backend)?;
    let mut settings = test_settings(&db);
    customise(&mut settings);
    Some(start(settings, db))
}

pub fn start(settings: Settings, db: TestDatabase) -> TestApp {
    start_on(settings, Arc::new(db))
}

/// Another server on a database that other servers may use too (replicas).
pub fn start_on(settings: Settings, db: Arc<TestDatabase>) -> TestApp {
    let (address, handle, thread) = run_server(&settings);
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        settings,
        handle,
        thread: Some(thread),
        db,
    }
}

type Running = (
    String,
    actix_web::dev::ServerHandle,
    std::thread::JoinHandle<()>,
);

fn run_server(settings: &Settings) -> Running {
    let app = Application::build(settings.clone()).expect("authd builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let server = app.server();
    let handle = server.handle();
    let thread = std::thread::spawn(move || {
        let _ = actix_web::rt::System::new().block_on(server);
    });
    (address, handle, thread)
}

/// A registered user and the pair they got.
pub struct Account {
    pub email: String,
    pub password: String,
    pub id: String,
    pub access: String,
    pub refresh: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// GET without credentials; asserts 200 and returns the JSON body.
    pub async fn get_ok(&self, path: &str) -> Value {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("request");
        expect_status(response, StatusCode::OK).await
    }

    pub async fn get_ok_response(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_with_bearer(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get_with_bearer(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub async fn register(&self, email: &str) -> Account {
        let response = self
            .post(
                "/api/auth/register",
                &json!({ "email": email, "password": PASSWORD }),
            )
            .await;
        let body = expect_status(response, StatusCode::CREATED).await;
        Account {
            email: email.to_owned(),
            password: PASSWORD.to_owned(),
            id: body["user"]["id"].as_str().unwrap().to_owned(),
            access: body["access"].as_str().unwrap().to_owned(),
            refresh: body["refresh"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/api/auth/login",
            &json!({ "email": email, "password": password }),
        )
        .await
    }

    /// Logs in and returns the new (access, refresh) pair.
    pub async fn login_pair(&self, email: &str) -> (String, String) {
        let body = expect_status(self.login(email, PASSWORD).await, StatusCode::OK).await;
        pair_of(&body)
    }

    pub async fn refresh(&self, refresh: &str) -> Response {
        self.post("/api/auth/refresh", &json!({ "refresh": refresh }))
            .await
    }

    /// A connection to the test's own database, for checks and set-up HTTP cannot do.
    pub fn db_conn(&self) -> authd::db::DbConnection {
        authd::db::DbTarget::parse(&self.db.url)
            .unwrap()
            .connect()
            .expect("test database connection")
    }
}

pub fn pair_of(body: &Value) -> (String, String) {
    (
        body["access"].as_str().expect("access").to_owned(),
        body["refresh"].as_str().expect("refresh").to_owned(),
    )
}

/// Asserts the status and returns the JSON body (or `Value::Null` for an empty one).
pub async fn expect_status(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(actual, status, "unexpected status; body: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    }
}

/// Asserts a standard error body with this status and code; returns the body.
pub async fn expect_error(response: Response, status: StatusCode, code: &str) -> Value {
    let body = expect_status(response, status).await;
    assert_eq!(body["code"], code, "wrong error code in {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "no message in {body}"
    );
    assert!(body["details"].is_object(), "no details object in {body}");
    body
}

/// Asserts a standard error body whose `details.reason` mentions `fragment`; returns the body.
pub async fn expect_reason(
    response: Response,
    status: StatusCode,
    code: &str,
    fragment: &str,
) -> Value {
    let body = expect_error(response, status, code).await;
    let reason = body["details"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(fragment),
        "expected {fragment:?} in the reason of {body}"
    );
    body
}

/// The claims of a JWT, read without verification (tests inspect what authd issued).
pub fn claims_of(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

pub fn header_of(token: &str) -> Value {
    use base64::Engine as _;
    let header = token.split('.').next().expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

pub fn unique_email() -> String {
    format!(
        "user-{}@example.com",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}
