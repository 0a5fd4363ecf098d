//! Signing keys in the database: `authd keys rotate` and `jwt.auto_rotate_days` on three
//! replicas of one database, with short times. A new key is published before it signs, tokens
//! of the old key verify for as long as they live, the old key then leaves the JWKS, and every
//! replica agrees on all of it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};

use crate::helpers::{
    expect_status, header_of, pair_of, start_on, test_settings, unique_email, Backend, TestApp,
    TestDatabase,
};
use crate::process::{authd, run, text};
use authd::auth::keys::sealed::generate_key_encryption_key;
use authd::db::signing_keys::StoredSigningKey;

crate::on_both_backends!(
    a_rotation_publishes_first_signs_later_and_retires_the_old_key_everywhere,
    automatic_rotation_happens_once_per_period_whatever_the_replicas,
    a_repeated_kid_or_a_wrong_key_encryption_key_stops_the_start,
);

/// Short times: services may cache the JWKS for 1 s, a new key waits 3 s before it signs,
/// access tokens live 4 s with no leeway, and replicas read the keys every second. A retired
/// key therefore stays published for 4 + 0 + 1 = 5 s.
const PREPUBLISH_SECS: i64 = 3;
const ACCESS_TTL_SECS: i64 = 4;
const PUBLISHED_AFTER_RETIREMENT: i64 = 5;

struct Cluster {
    replicas: Vec<TestApp>,
    db: Arc<TestDatabase>,
    kek: SecretString,
}

fn cluster(backend: Backend, auto_rotate_days: f64) -> Option<Cluster> {
    let db = Arc::new(TestDatabase::create(backend)?);
    let kek = generate_key_encryption_key();
    let replicas = (0..3)
        .map(|_| {
            let mut settings = test_settings(&db);
            settings.jwt.key_encryption_key = kek.clone();
            settings.jwt.jwks_max_age_secs = 1;
            settings.jwt.key_prepublish_secs = Some(PREPUBLISH_SECS as u64);
            settings.jwt.key_reload_secs = 1;
            settings.jwt.access_ttl_secs = ACCESS_TTL_SECS as u64;
            settings.jwt.leeway_secs = 0;
            settings.jwt.auto_rotate_days = auto_rotate_days;
            start_on(settings, db.clone())
        })
        .collect();
    Some(Cluster { replicas, db, kek })
}

impl Cluster {
    /// `authd keys rotate --json` with the replicas' settings, as an operator runs it.
    fn rotate(&self) -> std::process::Output {
        let jwt = &self.replicas[0].settings.jwt;
        let vars = [
            ("AUTHD__JWT__PRIVATE_KEY_FILE", jwt.private_key_file.clone()),
            (
                "AUTHD__JWT__KEY_ENCRYPTION_KEY",
                self.kek.expose_secret().to_owned(),
            ),
            ("AUTHD__JWT__JWKS_MAX_AGE_SECS", "1".into()),
            (
                "AUTHD__JWT__KEY_PREPUBLISH_SECS",
                PREPUBLISH_SECS.to_string(),
            ),
            ("AUTHD__JWT__ACCESS_TTL_SECS", ACCESS_TTL_SECS.to_string()),
            ("AUTHD__JWT__LEEWAY_SECS", "0".into()),
            ("AUTHD__JWT__KEY_RELOAD_SECS", "1".into()),
        ];
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run(
            &mut authd(&["keys", "rotate", "--json"], &self.db, &vars),
            None,
        )
    }

    fn stored(&self) -> Vec<StoredSigningKey> {
        StoredSigningKey::all(&mut self.replicas[0].db_conn()).unwrap()
    }
}

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let response = app.get_ok_response("/.well-known/jwks.json").await;
    assert_eq!(
        response.headers()["cache-control"],
        "public, max-age=1",
        "the JWKS is cacheable for jwt.jwks_max_age_secs"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn kid_of(token: &str) -> String {
    header_of(token)["kid"].as_str().unwrap().to_owned()
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Every replica accepts `access` on a protected route.
async fn accepted_everywhere(cluster: &Cluster, access: &str, when: &str) {
    for (i, replica) in cluster.replicas.iter().enumerate() {
        let response = replica.get_with_bearer("/api/auth/me", access).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "replica {i} refused a token of kid {} {when}",
            kid_of(access)
        );
    }
}

async fn a_rotation_publishes_first_signs_later_and_retires_the_old_key_everywhere(
    backend: Backend,
) {
    let Some(cluster) = cluster(backend, 0.0) else {
        return;
    };
    let [a, b, c] = &cluster.replicas[..] else {
        unreachable!()
    };
    let email = unique_email();
    let first = a.register(&email).await;
    let old_kid = kid_of(&first.access);
    for replica in &cluster.replicas {
        assert_eq!(jwks_kids(replica).await, vec![old_kid.clone()]);
    }

    let rotated = cluster.rotate();
    assert!(rotated.status.success(), "{}", text(&rotated.stderr));
    let made: serde_json::Value = serde_json::from_slice(&rotated.stdout).unwrap();
    let new_kid = made["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid);
    assert_eq!(made["retiring"], serde_json::json!([]), "{made}");
    let activates_at = chrono::DateTime::parse_from_rfc3339(made["activatesAt"].as_str().unwrap())
        .unwrap()
        .timestamp();
    assert!(activates_at >= unix_now() + PREPUBLISH_SECS - 1, "{made}");

    // A second rotation while the new key waits is refused, and changes nothing.
    let again = cluster.rotate();
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("already waiting to sign"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(cluster.stored().len(), 1);
    let sealed = &cluster.stored()[0].private_key_sealed;
    assert!(
        !sealed.contains("PRIVATE KEY") && sealed.starts_with("v1."),
        "the private key is stored in the clear"
    );

    // Published at once on every replica, while the old key still signs.
    for replica in &cluster.replicas {
        let kids = jwks_kids(replica).await;
        assert!(
            kids.contains(&new_kid) && kids.contains(&old_kid),
            "{kids:?} old {old_kid} new {new_kid}"
        );
    }
    let (late_access, late_refresh) = b.login_pair(&email).await;
    assert!(unix_now() < activates_at);
    assert_eq!(
        kid_of(&late_access),
        old_kid,
        "the new key signed before its time"
    );

    // From its activation, every replica signs with the new key.
    wait_until(activates_at).await;
    for replica in &cluster.replicas {
        let (access, _) = replica.login_pair(&email).await;
        assert_eq!(kid_of(&access), new_kid);
        accepted_everywhere(&cluster, &access, "from the new key").await;
    }
    accepted_everywhere(&cluster, &late_access, "signed by the old key").await;

    // The old key stays published while its last access tokens may live, then leaves.
    let unpublished_at = activates_at + PUBLISHED_AFTER_RETIREMENT;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(unix_now() < unpublished_at);
    for replica in &cluster.replicas {
        assert!(jwks_kids(replica).await.contains(&old_kid));
    }
    wait_until(unpublished_at).await;
    for replica in &cluster.replicas {
        assert_eq!(jwks_kids(replica).await, vec![new_kid.clone()]);
    }

    // authd itself still accepts the old key's refresh tokens, which live longer.
    let refreshed = expect_status(c.refresh(&late_refresh).await, StatusCode::OK).await;
    let (access, _) = pair_of(&refreshed);
    assert_eq!(kid_of(&access), new_kid);

    let listed = run(
        &mut authd(
            &["keys", "list", "--json"],
            &cluster.db,
            &[
                (
                    "AUTHD__JWT__KEY_ENCRYPTION_KEY",
                    cluster.kek.expose_secret(),
                ),
                (
                    "AUTHD__JWT__PRIVATE_KEY_FILE",
                    &cluster.replicas[0].settings.jwt.private_key_file,
                ),
            ],
        ),
        None,
    );
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let rows: Vec<serde_json::Value> = text(&listed.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let state_of = |kid: &str| {
        rows.iter()
            .find(|row| row["kid"] == kid)
            .map(|row| (row["state"].clone(), row["source"].clone()))
            .unwrap()
    };
    // The CLI reads the default times, so the old key is still published for it.
    assert_eq!(
        state_of(&old_kid),
        ("verifying".into(), "config".into()),
        "{rows:?}"
    );
    assert_eq!(
        state_of(&new_kid),
        ("signing".into(), "database".into()),
        "{rows:?}"
    );
}

async fn wait_until(unix_secs: i64) {
    let now = chrono::Utc::now().timestamp_millis();
    let wait = (unix_secs * 1000 - now).max(0) as u64;
    tokio::time::sleep(Duration::from_millis(wait + 300)).await;
}

async fn automatic_rotation_happens_once_per_period_whatever_the_replicas(backend: Backend) {
    // Every 4 s: the first replica to start rotates at once (no database key yet), then
    // whichever replica finds the newest key 4 s old.
    let every_secs = 4;
    let Some(cluster) = cluster(backend, every_secs as f64 / 86_400.0) else {
        return;
    };
    let email = unique_email();
    cluster.replicas[0].register(&email).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut checked_tokens = 0;
    while cluster.stored().len() < 3 {
        assert!(
            Instant::now() < deadline,
            "three rotations did not happen in 30 s"
        );
        // Meanwhile, what any replica signs, every replica accepts.
        let replica = &cluster.replicas[checked_tokens % 3];
        let (access, _) = replica.login_pair(&email).await;
        accepted_everywhere(&cluster, &access, "during automatic rotation").await;
        checked_tokens += 1;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let stored = cluster.stored();
    for pair in stored.windows(2) {
        let (older, newer) = (&pair[0], &pair[1]);
        let gap = (newer.created_at - older.activates_at).num_seconds();
        assert!(
            gap >= every_secs - 1,
            "two rotations in one period: {stored:?}"
        );
        assert_eq!(older.retires_at, Some(newer.activates_at), "{stored:?}");
        assert!(
            (newer.activates_at - newer.created_at).num_seconds() >= PREPUBLISH_SECS,
            "a key signed before its pre-publish time: {stored:?}"
        );
    }
}

async fn a_repeated_kid_or_a_wrong_key_encryption_key_stops_the_start(backend: Backend) {
    let Some(cluster) = cluster(backend, 0.0) else {
        return;
    };
    let rotated = cluster.rotate();
    assert!(rotated.status.success(), "{}", text(&rotated.stderr));
    let new_kid = cluster.stored()[0].kid.clone();

    let mut settings = cluster.replicas[0].settings.clone();
    settings.server.port = 0;
    settings.jwt.kid = new_kid.clone();
    let error = authd::startup::Application::build(settings.clone())
        .err()
        .expect("a configured key with a database key's kid was accepted");
    let message = error.to_string();
    assert!(
        message.contains(&new_kid) && message.contains("more than one key has this kid"),
        "{message}"
    );

    settings.jwt.kid = String::new();
    settings.jwt.key_encryption_key = generate_key_encryption_key();
    let error = authd::startup::Application::build(settings)
        .err()
        .expect("a key that does not open was accepted");
    assert!(
        error
            .to_string()
            .contains("does not open with this key-encryption key"),
        "{error}"
    );
}
