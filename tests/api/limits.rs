//! Rate limits: per client address (trusted proxies applied) or per user, answered with 429
//! `rate_limited` and `Retry-After`; shared through Redis by several processes; still
//! enforced when Redis is down; and off when turned off.

use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::helpers::{
    expect_error, expect_status, redis_available, redis_url, spawn_app_with, unique_email, Backend,
    TestApp, TestDatabase, PASSWORD,
};
use crate::process::{free_port, RunningServer};

fn quota(text: &str) -> Option<authd::config::Quota> {
    authd::config::parse_quota(text).unwrap()
}

/// Asserts a 429 with the wait in both the header and the body; returns the wait.
async fn expect_limited(response: Response) -> u64 {
    let header: u64 = response
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body = expect_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(body["details"]["retryAfter"], header, "{body}");
    assert!((1..=60).contains(&header), "{body}");
    header
}

async fn login_from(app: &TestApp, email: &str, password: &str, via: Option<&str>) -> Response {
    let mut request = app
        .client
        .post(app.url("/api/auth/login"))
        .json(&json!({ "email": email, "password": password }));
    if let Some(address) = via {
        request = request.header("X-Forwarded-For", address);
    }
    request.send().await.unwrap()
}

async fn logins_are_limited_per_client_address(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.rate_limit.login_per_ip = quota("3/1m")).await
    else {
        return;
    };
    let account = app.register(&unique_email()).await;
    // A forwarded address from an untrusted peer is ignored: spoofing buys nothing.
    for spoofed in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        let wrong = login_from(&app, &account.email, "wrong-password", Some(spoofed)).await;
        expect_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    expect_limited(login_from(&app, &account.email, PASSWORD, Some("198.51.100.4")).await).await;
    // Other routes have limits of their own.
    expect_status(app.refresh(&account.refresh).await, StatusCode::OK).await;
}

/// Behind a trusted proxy each forwarded client has its own allowance.
async fn behind_a_trusted_proxy_each_client_counts_alone(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| {
        s.rate_limit.login_per_ip = quota("2/1m");
        s.server.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await
    else {
        return;
    };
    let account = app.register(&unique_email()).await;
    for _ in 0..2 {
        let ok = login_from(&app, &account.email, PASSWORD, Some("198.51.100.1")).await;
        expect_status(ok, StatusCode::OK).await;
    }
    expect_limited(login_from(&app, &account.email, PASSWORD, Some("198.51.100.1")).await).await;
    let other = login_from(&app, &account.email, PASSWORD, Some("203.0.113.5")).await;
    expect_status(other, StatusCode::OK).await;
    // IPv6 clients count by /64: another address in the same /64 is the same client.
    for address in ["2001:db8:1:2::1", "2001:db8:1:2::2"] {
        let ok = login_from(&app, &account.email, PASSWORD, Some(address)).await;
        expect_status(ok, StatusCode::OK).await;
    }
    expect_limited(login_from(&app, &account.email, PASSWORD, Some("2001:db8:1:2:ffff::9")).await)
        .await;
}

async fn every_limited_route_answers_429(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| {
        s.rate_limit.register_per_ip = quota("2/1m");
        s.rate_limit.refresh_per_ip = quota("2/1m");
        s.rate_limit.password_change_per_user = quota("1/1m");
        s.rate_limit.oidc_authorize_per_ip = quota("2/1m");
        s.rate_limit.oidc_callback_per_ip = quota("2/1m");
        s.rate_limit.api_key_create_per_user = quota("2/1m");
    })
    .await
    else {
        return;
    };
    let account = app.register(&unique_email()).await;
    app.register(&unique_email()).await;
    let third = app
        .post(
            "/api/auth/register",
            &json!({ "email": unique_email(), "password": PASSWORD }),
        )
        .await;
    expect_limited(third).await;

    let (_, refresh) = crate::helpers::pair_of(
        &expect_status(app.refresh(&account.refresh).await, StatusCode::OK).await,
    );
    expect_status(app.refresh(&refresh).await, StatusCode::OK)
        .await
        .as_object()
        .unwrap();
    expect_limited(app.refresh(&refresh).await).await;
    // Logouts count with refreshes: each may write.
    expect_limited(
        app.post("/api/auth/logout", &json!({ "refresh": refresh }))
            .await,
    )
    .await;

    // API keys per user: a revoke-and-create loop stays under the cap of live keys, not this.
    let key = json!({ "name": "loop", "scopes": ["read:me"] });
    for _ in 0..2 {
        let made = app
            .post_with_bearer("/api/auth/api-keys", &account.access, &key)
            .await;
        expect_status(made, StatusCode::CREATED).await;
    }
    expect_limited(
        app.post_with_bearer("/api/auth/api-keys", &account.access, &key)
            .await,
    )
    .await;

    let change = json!({ "currentPassword": "wrong-password", "newPassword": "copper-Lantern-58" });
    let first = app
        .post_with_bearer("/api/auth/password", &account.access, &change)
        .await;
    expect_error(first, StatusCode::BAD_REQUEST, "validation_error").await;
    let second = app
        .post_with_bearer("/api/auth/password", &account.access, &change)
        .await;
    expect_limited(second).await;

    // The provider needs not exist: the limit comes first.
    let authorize = || {
        app.client
            .get(app.url("/api/auth/oidc/acme/authorize"))
            .send()
    };
    let unknown_state = json!({ "code": "c", "state": "s" });
    let callback = || app.post("/api/auth/oidc/acme/callback", &unknown_state);
    for _ in 0..2 {
        assert_eq!(authorize().await.unwrap().status(), StatusCode::NOT_FOUND);
        assert_eq!(callback().await.status(), StatusCode::NOT_FOUND);
    }
    expect_limited(authorize().await.unwrap()).await;
    expect_limited(callback().await).await;
}

crate::on_both_backends!(
    logins_are_limited_per_client_address,
    behind_a_trusted_proxy_each_client_counts_alone,
    every_limited_route_answers_429,
);

#[tokio::test]
async fn the_limits_can_be_turned_off() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |s| {
        s.rate_limit.enabled = false;
        s.rate_limit.login_per_ip = quota("1/1h");
        s.lockout.enabled = false;
    })
    .await
    else {
        return;
    };
    let account = app.register(&unique_email()).await;
    for _ in 0..8 {
        let wrong = login_from(&app, &account.email, "wrong-password", None).await;
        expect_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    expect_status(app.login(&account.email, PASSWORD).await, StatusCode::OK).await;
}

/// Two authd processes on one Redis enforce one allowance together.
#[tokio::test]
async fn two_processes_sharing_redis_enforce_one_limit() {
    if !redis_available() {
        return;
    }
    let prefix = format!("authd-test-{}:", uuid::Uuid::new_v4().simple());
    let servers: Vec<(TestDatabase, RunningServer)> = (0..2)
        .map(|_| {
            let db = TestDatabase::create(Backend::Sqlite).unwrap();
            let server = RunningServer::start(
                &db,
                &[
                    ("AUTHD__RATE_LIMIT__REDIS_URL", &redis_url()),
                    ("AUTHD__RATE_LIMIT__REDIS_KEY_PREFIX", &prefix),
                    ("AUTHD__RATE_LIMIT__LOGIN_PER_IP", "4/1m"),
                ],
            );
            (db, server)
        })
        .collect();
    let client = reqwest::Client::new();
    let login = |base: &str| {
        client
            .post(format!("{base}/api/auth/login"))
            .json(&json!({ "email": "nobody@example.com", "password": "wrong-password" }))
            .send()
    };
    for round in 0..2 {
        for (_, server) in &servers {
            let response = login(&server.base).await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "attempt {round} at {}",
                server.base
            );
        }
    }
    for (_, server) in &servers {
        expect_limited(login(&server.base).await.unwrap()).await;
    }
    let keys: Vec<String> = redis::Client::open(redis_url())
        .unwrap()
        .get_connection()
        .and_then(|mut conn| {
            redis::cmd("KEYS")
                .arg(format!("{prefix}*"))
                .query(&mut conn)
        })
        .unwrap();
    assert_eq!(keys, [format!("{prefix}login_per_ip:127.0.0.1")]);
}

/// With Redis gone, each process still counts on its own: the protection degrades, it does
/// not disappear.
#[tokio::test]
async fn with_redis_down_each_process_still_limits() {
    let closed = format!("redis://127.0.0.1:{}", free_port());
    let Some(app) = spawn_app_with(Backend::Sqlite, |s| {
        s.rate_limit.redis_url = secrecy::SecretString::from(closed);
        s.rate_limit.login_per_ip = quota("2/1m");
    })
    .await
    else {
        return;
    };
    for _ in 0..2 {
        let wrong = login_from(&app, "nobody@example.com", "wrong-password", None).await;
        expect_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    expect_limited(login_from(&app, "nobody@example.com", "wrong-password", None).await).await;
}

/// Unauthenticated authorize writes a row each time: the rows kept at once are capped.
#[tokio::test]
async fn pending_sign_ins_are_capped() {
    let standin = crate::standin::StandIn::start();
    let Some(app) = spawn_app_with(Backend::Sqlite, |s| {
        s.rate_limit.oidc_max_pending_states = 3;
        s.oidc.providers.insert(
            "acme".into(),
            crate::oidc::provider("oidc", &standin.base, "Acme"),
        );
    })
    .await
    else {
        return;
    };
    for _ in 0..3 {
        crate::oidc::authorize_url(&app, "acme").await;
    }
    let refused = app
        .client
        .get(app.url("/api/auth/oidc/acme/authorize"))
        .query(&crate::oidc::authorize_query())
        .send()
        .await
        .unwrap();
    expect_error(refused, StatusCode::SERVICE_UNAVAILABLE, "overloaded").await;
}
