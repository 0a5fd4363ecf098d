//! API keys: shown once, accepted as a bearer on the routes that allow them within their
//! scopes, until they expire or are revoked; managed only with a person's token.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::admin::{call, staff};
use crate::helpers::{
    expect_error, expect_status, spawn_app, spawn_app_with, unique_email, Backend, TestApp,
};

crate::on_both_backends!(
    a_key_works_within_its_scopes_until_it_expires_or_is_revoked,
    admin_keys_reach_the_admin_api_only_with_the_admin_scope,
    a_services_key_reads_the_revocation_feed_and_introspects,
);

async fn make_key(app: &TestApp, access: &str, body: Value) -> Value {
    let response = call(
        app,
        Method::POST,
        "/api/auth/api-keys",
        Some(access),
        Some(body),
    )
    .await;
    expect_status(response, StatusCode::CREATED).await
}

async fn a_key_works_within_its_scopes_until_it_expires_or_is_revoked(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let made = make_key(
        &app,
        &account.access,
        json!({ "name": "backup script", "scopes": ["read:me"] }),
    )
    .await;
    let key = made["key"].as_str().unwrap().to_owned();
    let prefix = made["prefix"].as_str().unwrap();
    assert!(key.starts_with(&format!("authd_{prefix}_")), "{key}");
    assert_eq!(made["scopes"], json!(["read:me"]));

    // The key reads its user; it is shown once, and only its hash is stored.
    let me = expect_status(
        app.get_with_bearer("/api/auth/me", &key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["id"], account.id.as_str());
    let listed = expect_status(
        app.get_with_bearer("/api/auth/api-keys", &account.access)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(listed[0].get("key").is_none(), "{listed}");
    assert!(!listed.to_string().contains(&key));
    let stored = crate::admin::count(
        &mut app.db_conn(),
        &format!(
            "SELECT COUNT(*) AS n FROM api_keys WHERE key_sha256 = '{}'",
            authd::auth::api_keys::sha256_hex(&key)
        ),
    );
    assert_eq!(stored, 1);
    let lastused = async {
        for _ in 0..20 {
            let listed = expect_status(
                app.get_with_bearer("/api/auth/api-keys", &account.access)
                    .await,
                StatusCode::OK,
            )
            .await;
            if listed[0]["lastUsedAt"].is_string() {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        false
    };
    assert!(lastused.await, "lastUsedAt was not recorded");

    // Outside its scopes, and for managing keys, it is refused.
    expect_error(
        app.get_with_bearer("/api/admin/users", &key).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let more = call(
        &app,
        Method::POST,
        "/api/auth/api-keys",
        Some(&key),
        Some(json!({ "name": "x", "scopes": ["read:me"] })),
    )
    .await;
    expect_error(more, StatusCode::UNAUTHORIZED, "token_invalid").await;
    expect_error(
        app.get_with_bearer("/api/auth/sessions", &key).await,
        StatusCode::UNAUTHORIZED,
        "token_invalid",
    )
    .await;
    // A made-up key of the right shape, and a tampered one.
    let fake = format!("authd_{}_{}", "a".repeat(12), "A".repeat(43));
    assert!(authd::auth::api_keys::prefix_of(&fake).is_some());
    expect_error(
        app.get_with_bearer("/api/auth/me", &fake).await,
        StatusCode::UNAUTHORIZED,
        "token_invalid",
    )
    .await;
    let tampered = format!(
        "{}{}",
        &key[..key.len() - 1],
        if key.ends_with('A') { 'B' } else { 'A' }
    );
    expect_error(
        app.get_with_bearer("/api/auth/me", &tampered).await,
        StatusCode::UNAUTHORIZED,
        "token_invalid",
    )
    .await;

    // Bad requests change nothing.
    for (body, field) in [
        (json!({ "name": "", "scopes": ["read:me"] }), "name"),
        (json!({ "name": "x", "scopes": ["root"] }), "scopes"),
        (json!({ "name": "x", "scopes": [] }), "scopes"),
        (
            json!({ "name": "x", "scopes": ["read:me"], "expiresAt": "2001-01-01T00:00:00Z" }),
            "expiresAt",
        ),
    ] {
        let response = call(
            &app,
            Method::POST,
            "/api/auth/api-keys",
            Some(&account.access),
            Some(body),
        )
        .await;
        let error = expect_error(response, StatusCode::BAD_REQUEST, "validation_error").await;
        assert!(error["details"][field].is_array(), "{error}");
    }
    let admin_scope = call(
        &app,
        Method::POST,
        "/api/auth/api-keys",
        Some(&account.access),
        Some(json!({ "name": "x", "scopes": ["admin"] })),
    )
    .await;
    expect_error(admin_scope, StatusCode::FORBIDDEN, "forbidden").await;
    let someone = app.register(&unique_email()).await;
    let for_other = call(
        &app,
        Method::POST,
        "/api/auth/api-keys",
        Some(&account.access),
        Some(json!({ "name": "x", "scopes": ["read:me"], "userId": someone.id })),
    )
    .await;
    expect_error(for_other, StatusCode::FORBIDDEN, "forbidden").await;
    let listed = expect_status(
        app.get_with_bearer("/api/auth/api-keys", &account.access)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // Someone else cannot revoke it; its owner can, and it stops working at once.
    let path = format!("/api/auth/api-keys/{}", made["id"].as_str().unwrap());
    let theirs = call(&app, Method::DELETE, &path, Some(&someone.access), None).await;
    expect_error(theirs, StatusCode::NOT_FOUND, "not_found").await;
    expect_status(
        app.get_with_bearer("/api/auth/me", &key).await,
        StatusCode::OK,
    )
    .await;
    expect_status(
        call(&app, Method::DELETE, &path, Some(&account.access), None).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_error(
        app.get_with_bearer("/api/auth/me", &key).await,
        StatusCode::UNAUTHORIZED,
        "token_invalid",
    )
    .await;
    expect_status(
        call(&app, Method::DELETE, &path, Some(&account.access), None).await,
        StatusCode::NO_CONTENT,
    )
    .await;

    // An expiring key works until its time.
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let expiring = make_key(
        &app,
        &account.access,
        json!({ "name": "short", "scopes": ["read:me"], "expiresAt": soon }),
    )
    .await;
    let expiring = expiring["key"].as_str().unwrap().to_owned();
    expect_status(
        app.get_with_bearer("/api/auth/me", &expiring).await,
        StatusCode::OK,
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    expect_error(
        app.get_with_bearer("/api/auth/me", &expiring).await,
        StatusCode::UNAUTHORIZED,
        "token_expired",
    )
    .await;

    let events = expect_status(
        app.get_with_bearer("/api/auth/me/events", &account.access)
            .await,
        StatusCode::OK,
    )
    .await;
    let types: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types.iter().filter(|t| **t == "api_key.created").count(),
        2,
        "{types:?}"
    );
    assert_eq!(
        types.iter().filter(|t| **t == "api_key.revoked").count(),
        1,
        "{types:?}"
    );
    assert!(!events.to_string().contains(&key));
}

async fn admin_keys_reach_the_admin_api_only_with_the_admin_scope(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = staff(&app).await;
    let user = app.register(&unique_email()).await;
    let with_admin = make_key(
        &app,
        &admin.access,
        json!({ "name": "ops", "scopes": ["admin"] }),
    )
    .await;
    let with_admin = with_admin["key"].as_str().unwrap().to_owned();
    let without = make_key(
        &app,
        &admin.access,
        json!({ "name": "me", "scopes": ["read:me"] }),
    )
    .await;
    let without = without["key"].as_str().unwrap().to_owned();
    let target = format!("/api/admin/users/{}", user.id);
    for (method, path) in [
        (Method::GET, "/api/admin/users".to_owned()),
        (Method::GET, target.clone()),
        (Method::GET, format!("{target}/sessions")),
        (Method::GET, format!("{target}/identities")),
        (Method::GET, "/api/admin/audit".to_owned()),
    ] {
        let refused = call(&app, method.clone(), &path, Some(&without), None).await;
        expect_error(refused, StatusCode::FORBIDDEN, "forbidden").await;
        let allowed = call(&app, method, &path, Some(&with_admin), None).await;
        assert_eq!(allowed.status(), StatusCode::OK, "{path}");
    }
    let changed = call(
        &app,
        Method::PATCH,
        &target,
        Some(&with_admin),
        Some(json!({ "lastName": "Keyed" })),
    )
    .await;
    expect_status(changed, StatusCode::OK).await;
    let audit = call(
        &app,
        Method::GET,
        &format!(
            "/api/admin/audit?userId={}&type=admin.user_updated",
            user.id
        ),
        Some(&with_admin),
        None,
    )
    .await;
    let audit = expect_status(audit, StatusCode::OK).await;
    let actor = audit["items"][0]["actor"].as_str().unwrap();
    assert!(actor.starts_with("api_key:"), "{audit}");

    // An admin makes and revokes a key for another user.
    let theirs = make_key(
        &app,
        &admin.access,
        json!({ "name": "for them", "scopes": ["read:me"], "userId": user.id }),
    )
    .await;
    assert_eq!(theirs["userId"], user.id.as_str());
    let their_key = theirs["key"].as_str().unwrap();
    let me = expect_status(
        app.get_with_bearer("/api/auth/me", their_key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["id"], user.id.as_str());
    let listed = call(
        &app,
        Method::GET,
        &format!("/api/auth/api-keys?userId={}", user.id),
        Some(&admin.access),
        None,
    )
    .await;
    assert_eq!(
        expect_status(listed, StatusCode::OK)
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let path = format!("/api/auth/api-keys/{}", theirs["id"].as_str().unwrap());
    expect_status(
        call(&app, Method::DELETE, &path, Some(&admin.access), None).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_error(
        app.get_with_bearer("/api/auth/me", their_key).await,
        StatusCode::UNAUTHORIZED,
        "token_invalid",
    )
    .await;

    // The staff flag is checked when the key is used: demoted, the key is refused.
    let demote = call(
        &app,
        Method::PATCH,
        &format!("/api/admin/users/{}", admin.id),
        Some(&with_admin),
        Some(json!({ "isStaff": false })),
    )
    .await;
    expect_error(demote, StatusCode::CONFLICT, "cannot_demote_self").await;
    let other_admin = staff(&app).await;
    let demote = call(
        &app,
        Method::PATCH,
        &format!("/api/admin/users/{}", admin.id),
        Some(&other_admin.access),
        Some(json!({ "isStaff": false })),
    )
    .await;
    expect_status(demote, StatusCode::OK).await;
    expect_error(
        app.get_with_bearer("/api/admin/users", &with_admin).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

async fn a_services_key_reads_the_revocation_feed_and_introspects(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |_| {}).await else {
        return;
    };
    let owner = app.register(&unique_email()).await;
    let service = make_key(
        &app,
        &owner.access,
        json!({ "name": "billing", "scopes": ["services"] }),
    )
    .await;
    let service = service["key"].as_str().unwrap().to_owned();
    let reader = make_key(
        &app,
        &owner.access,
        json!({ "name": "reader", "scopes": ["read:me"] }),
    )
    .await;
    let reader = reader["key"].as_str().unwrap().to_owned();
    let feed = expect_status(
        app.get_with_bearer("/api/auth/revocations", &service).await,
        StatusCode::OK,
    )
    .await;
    assert!(feed["cursor"].is_string(), "{feed}");
    let refused = app.get_with_bearer("/api/auth/revocations", &reader).await;
    expect_error(refused, StatusCode::FORBIDDEN, "insufficient_scope").await;
    let introspected = app
        .client
        .post(app.url("/api/auth/introspect"))
        .bearer_auth(&service)
        .form(&[("token", owner.access.as_str())])
        .send()
        .await
        .unwrap();
    let introspected = expect_status(introspected, StatusCode::OK).await;
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["sub"], owner.id.as_str());
    // The services scope is not a person's: /me refuses it.
    expect_error(
        app.get_with_bearer("/api/auth/me", &service).await,
        StatusCode::FORBIDDEN,
        "insufficient_scope",
    )
    .await;
}
