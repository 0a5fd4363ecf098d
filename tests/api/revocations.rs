//! The routes for internal services: the revocation feed and RFC 7662 introspection, behind
//! a service credential made by `authd services new-token`.

use authd::config::ServiceSettings;
use authd::db::users::User;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    expect_error, expect_status, spawn_app_with, unique_email, Backend, TestApp, TestDatabase,
};
use crate::process::{authd, run, text};

/// A service secret and its hash, as `authd services new-token` prints them.
fn new_service_token() -> (String, String) {
    let db = TestDatabase::create(Backend::Sqlite).unwrap();
    let output = run(
        &mut authd(&["services", "new-token", "billing"], &db, &[]),
        None,
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let printed = text(&output.stdout);
    let secret = printed
        .split_whitespace()
        .find(|word| word.starts_with("authd_svc_"))
        .expect("a secret")
        .to_owned();
    let hash = printed
        .split("AUTHD__SERVICES__BILLING__TOKEN_SHA256=")
        .nth(1)
        .expect("the environment line")
        .trim()
        .to_owned();
    let refused = run(
        &mut authd(&["services", "new-token", "Bad Name"], &db, &[]),
        None,
    );
    assert!(!refused.status.success());
    (secret, hash)
}

async fn spawn_with_service(
    backend: Backend,
    customise: impl FnOnce(&mut authd::config::Settings),
) -> Option<(TestApp, String)> {
    let (secret, hash) = new_service_token();
    let app = spawn_app_with(backend, move |s| {
        s.services
            .insert("billing".into(), ServiceSettings { token_sha256: hash });
        customise(s);
    })
    .await?;
    Some((app, secret))
}

async fn feed(app: &TestApp, secret: &str, since: Option<&str>) -> Value {
    let mut url = app.url("/api/auth/revocations");
    if let Some(cursor) = since {
        url = format!("{url}?since={cursor}");
    }
    let response = app
        .client
        .get(url)
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await
}

fn sids(feed: &Value) -> Vec<String> {
    let list = feed["sessions"].as_array().unwrap();
    list.iter()
        .map(|s| s["sid"].as_str().unwrap().to_owned())
        .collect()
}

fn not_before(feed: &Value, user: &str) -> Option<i64> {
    let users = feed["users"].as_array().unwrap();
    users
        .iter()
        .find(|u| u["sub"] == user)
        .map(|u| u["notBefore"].as_i64().unwrap())
}

fn sid_of(access: &str) -> String {
    crate::helpers::claims_of(access)["sid"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn the_feed_names_what_services_must_refuse(backend: Backend) {
    let Some((app, secret)) = spawn_with_service(backend, |_| {}).await else {
        return;
    };
    let ann = app.register(&unique_email()).await;
    // Only a service gets in: not a user, not a guess, not nobody.
    let url = app.url("/api/auth/revocations");
    let nobody = app.client.get(&url).send().await.unwrap();
    expect_error(nobody, StatusCode::UNAUTHORIZED, "not_authenticated").await;
    for wrong in [ann.access.as_str(), "authd_svc_guessed"] {
        let refused = app
            .client
            .get(&url)
            .bearer_auth(wrong)
            .send()
            .await
            .unwrap();
        assert!(refused.headers().contains_key("www-authenticate"));
        expect_error(refused, StatusCode::UNAUTHORIZED, "invalid_client").await;
    }
    let bad_cursor = app
        .client
        .get(format!("{url}?since=yesterday"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    expect_error(bad_cursor, StatusCode::BAD_REQUEST, "validation_error").await;

    let start = feed(&app, &secret, None).await;
    assert!(sids(&start).is_empty(), "{start}");
    assert_eq!(start["more"], false);
    assert_eq!(start["horizonSecs"], 900 + 30 + 1);
    let cursor = start["cursor"].as_str().unwrap().to_owned();

    // A logout: that session only.
    let logged_out = app
        .post("/api/auth/logout", &json!({ "refresh": ann.refresh }))
        .await;
    assert_eq!(logged_out.status(), StatusCode::NO_CONTENT);
    let after_logout = feed(&app, &secret, Some(&cursor)).await;
    assert_eq!(sids(&after_logout), vec![sid_of(&ann.access)]);
    assert_eq!(after_logout["sessions"][0]["sub"], ann.id.as_str());
    assert!(not_before(&after_logout, &ann.id).is_none());

    // Logout everywhere: every session, and a "not before" for the user.
    let (second, _) = app.login_pair(&ann.email).await;
    let (third, _) = app.login_pair(&ann.email).await;
    let everywhere = app
        .post_with_bearer("/api/auth/logout", &third, &json!({ "all": true }))
        .await;
    assert_eq!(everywhere.status(), StatusCode::NO_CONTENT);
    let cursor = after_logout["cursor"].as_str().unwrap();
    let after_all = feed(&app, &secret, Some(cursor)).await;
    for sid in [sid_of(&second), sid_of(&third)] {
        assert!(
            sids(&after_all).contains(&sid),
            "{sid} missing: {after_all}"
        );
    }
    let ann_iat = crate::helpers::claims_of(&third)["iat"].as_i64().unwrap();
    assert!(not_before(&after_all, &ann.id).is_some_and(|t| t >= ann_iat));

    // A deactivated user: a "not before" without any session ending.
    let bob = app.register(&unique_email()).await;
    User::set_active(&mut app.db_conn(), &bob.id, false).unwrap();
    let after_deactivation = feed(&app, &secret, after_all["cursor"].as_str()).await;
    assert!(not_before(&after_deactivation, &bob.id).is_some());
    assert!(!sids(&after_deactivation).contains(&sid_of(&bob.access)));
}

/// Entries older than an access token's lifetime (plus leeway) no longer matter and leave.
async fn old_revocations_leave_the_feed(backend: Backend) {
    let Some((app, secret)) = spawn_with_service(backend, |s| {
        s.jwt.access_ttl_secs = 1;
        s.jwt.leeway_secs = 0;
    })
    .await
    else {
        return;
    };
    let ann = app.register(&unique_email()).await;
    app.post("/api/auth/logout", &json!({ "refresh": ann.refresh }))
        .await;
    assert_eq!(
        sids(&feed(&app, &secret, None).await),
        vec![sid_of(&ann.access)]
    );
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let later = feed(&app, &secret, None).await;
    assert!(sids(&later).is_empty(), "{later}");
}

async fn introspect(app: &TestApp, secret: &str, token: &str, as_form: bool) -> Value {
    let request = app
        .client
        .post(app.url("/api/auth/introspect"))
        .bearer_auth(secret);
    let request = match as_form {
        true => request.form(&[("token", token), ("token_type_hint", "access_token")]),
        false => request.json(&json!({ "token": token })),
    };
    expect_status(request.send().await.unwrap(), StatusCode::OK).await
}

async fn introspection_is_active_only_for_live_access_tokens(backend: Backend) {
    let Some((app, secret)) = spawn_with_service(backend, |_| {}).await else {
        return;
    };
    let ann = app.register(&unique_email()).await;
    for as_form in [true, false] {
        let active = introspect(&app, &secret, &ann.access, as_form).await;
        assert_eq!(active["active"], true, "{active}");
        let claims = crate::helpers::claims_of(&ann.access);
        for field in ["sub", "sid", "jti", "exp", "iat", "iss", "aud", "client_id"] {
            assert_eq!(active[field], claims[field], "{field}");
        }
        assert_eq!(active["token_type"], "Bearer");
    }
    let mut tampered = ann.access.clone();
    tampered.insert(tampered.len() - 3, 'A');
    for inactive in [ann.refresh.as_str(), tampered.as_str(), "not-a-token"] {
        assert_eq!(
            introspect(&app, &secret, inactive, true).await,
            json!({ "active": false })
        );
    }
    // Ended session, deactivated user: inactive at once, though the token has not expired.
    app.post("/api/auth/logout", &json!({ "refresh": ann.refresh }))
        .await;
    assert_eq!(
        introspect(&app, &secret, &ann.access, true).await["active"],
        false
    );
    let bob = app.register(&unique_email()).await;
    User::set_active(&mut app.db_conn(), &bob.id, false).unwrap();
    assert_eq!(
        introspect(&app, &secret, &bob.access, false).await["active"],
        false
    );

    // Bad requests are refused, and only services may ask.
    let url = app.url("/api/auth/introspect");
    let missing = app
        .client
        .post(&url)
        .bearer_auth(&secret)
        .form(&[("tok", "x")]);
    let missing = expect_error(
        missing.send().await.unwrap(),
        StatusCode::BAD_REQUEST,
        "validation_error",
    )
    .await;
    assert!(missing["details"]["token"].is_array(), "{missing}");
    let twice = app
        .client
        .post(&url)
        .bearer_auth(&secret)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("token=a&token=b");
    expect_error(
        twice.send().await.unwrap(),
        StatusCode::BAD_REQUEST,
        "validation_error",
    )
    .await;
    let as_user = app
        .client
        .post(&url)
        .bearer_auth(&bob.access)
        .form(&[("token", bob.access.as_str())]);
    expect_error(
        as_user.send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
}

crate::on_both_backends!(
    the_feed_names_what_services_must_refuse,
    old_revocations_leave_the_feed,
    introspection_is_active_only_for_live_access_tokens,
);
