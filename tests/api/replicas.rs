//! Three authd servers on one PostgreSQL database and one configured key behave as one: every
//! piece of state a request leaves behind (sessions, the blacklist, OIDC states) is in the
//! database, and the key is configuration. PostgreSQL only: SQLite is one machine's file.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    expect_error, expect_status, pair_of, start_on, test_settings, unique_email, Backend, TestApp,
    TestDatabase,
};
use crate::oidc::{authorize_url, post_callback, provider, state_of};
use crate::standin::{Grant, StandIn};

struct Cluster {
    replicas: Vec<TestApp>,
    standin: StandIn,
}

/// Three replicas configured as an operator would: the same key file (made beforehand, no
/// key generation), the same database, the same provider; refresh grace off.
fn cluster() -> Option<Cluster> {
    let db = Arc::new(TestDatabase::create(Backend::Postgres)?);
    let standin = StandIn::start();
    let key = db.dir.path().join("shared-signing-key.pem");
    let pem = authd::auth::keys::generate_private_key(jsonwebtoken::Algorithm::EdDSA).unwrap();
    authd::auth::keys::write_private_file(&key, secrecy::ExposeSecret::expose_secret(&pem))
        .unwrap();
    let replicas = (0..3)
        .map(|_| {
            let mut settings = test_settings(&db);
            settings.jwt.generate_key = false;
            settings.jwt.private_key_file = key.display().to_string();
            settings.jwt.refresh_reuse_grace_secs = 0;
            settings
                .oidc
                .providers
                .insert("acme".into(), provider("oidc", &standin.base, "Acme ID"));
            start_on(settings, db.clone())
        })
        .collect();
    Some(Cluster { replicas, standin })
}

#[tokio::test]
async fn a_pair_from_one_replica_refreshes_on_another_and_logs_out_on_a_third() {
    let Some(cluster) = cluster() else { return };
    let [a, b, c] = &cluster.replicas[..] else {
        unreachable!()
    };
    let account = a.register(&unique_email()).await;
    expect_status(
        c.get_with_bearer("/api/auth/me", &account.access).await,
        StatusCode::OK,
    )
    .await;

    let (access, refresh) =
        pair_of(&expect_status(b.refresh(&account.refresh).await, StatusCode::OK).await);
    expect_status(
        c.get_with_bearer("/api/auth/me", &access).await,
        StatusCode::OK,
    )
    .await;

    let logout = b
        .post("/api/auth/logout", &json!({ "refresh": refresh }))
        .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    expect_error(
        c.refresh(&refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    expect_error(
        a.get_with_bearer("/api/auth/me", &access).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
}

#[tokio::test]
async fn reuse_detected_on_one_replica_ends_the_session_on_all() {
    let Some(cluster) = cluster() else { return };
    let [a, b, c] = &cluster.replicas[..] else {
        unreachable!()
    };
    let account = a.register(&unique_email()).await;
    let (access2, refresh2) =
        pair_of(&expect_status(a.refresh(&account.refresh).await, StatusCode::OK).await);

    expect_error(
        c.refresh(&account.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_reused",
    )
    .await;
    for replica in [a, b] {
        expect_error(
            replica.refresh(&refresh2).await,
            StatusCode::UNAUTHORIZED,
            "token_revoked",
        )
        .await;
        expect_error(
            replica.get_with_bearer("/api/auth/me", &access2).await,
            StatusCode::UNAUTHORIZED,
            "token_revoked",
        )
        .await;
    }
}

#[tokio::test]
async fn thirty_concurrent_refreshes_over_three_replicas_have_exactly_one_winner() {
    let Some(cluster) = cluster() else { return };
    let replicas = &cluster.replicas;
    let account = replicas[0].register(&unique_email()).await;
    let attempts = (0..30).map(|i| replicas[i % 3].refresh(&account.refresh));
    let statuses: Vec<StatusCode> = futures::future::join_all(attempts)
        .await
        .iter()
        .map(|response| response.status())
        .collect();
    let winners = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(winners, 1, "statuses: {statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::UNAUTHORIZED),
        "statuses: {statuses:?}"
    );
}

#[tokio::test]
async fn an_authorize_on_one_replica_completes_its_callback_on_another() {
    let Some(cluster) = cluster() else { return };
    let [a, b, c] = &cluster.replicas[..] else {
        unreachable!()
    };
    let url = authorize_url(a, "acme").await;
    let email = unique_email();
    let code = cluster
        .standin
        .issue_code(&url, Grant::new("subject-1", &email));
    let body = expect_status(
        post_callback(b, "acme", &code, &state_of(&url)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["user"]["email"], email);
    let (access, _) = pair_of(&body);
    expect_status(
        c.get_with_bearer("/api/auth/me", &access).await,
        StatusCode::OK,
    )
    .await;
    // The state was used up for every replica, not only the one that took the callback.
    let again = cluster
        .standin
        .issue_code(&url, Grant::new("subject-1", &email));
    let replay = post_callback(c, "acme", &again, &state_of(&url)).await;
    expect_error(replay, StatusCode::BAD_REQUEST, "invalid_state").await;
}

#[tokio::test]
async fn every_replica_publishes_the_same_keys() {
    let Some(cluster) = cluster() else { return };
    let mut documents = Vec::new();
    for replica in &cluster.replicas {
        documents.push((
            replica.get_ok("/.well-known/jwks.json").await,
            replica.get_ok("/.well-known/openid-configuration").await,
        ));
    }
    assert_eq!(documents[0].0["keys"].as_array().unwrap().len(), 1);
    assert!(
        documents.iter().all(|d| *d == documents[0]),
        "{documents:#?}"
    );
}
