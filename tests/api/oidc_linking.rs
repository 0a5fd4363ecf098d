//! Accounts and identities: when a provider identity links to an existing account by email,
//! and linking and unlinking identities of the signed-in user.

use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::helpers::{expect_error, expect_status, unique_email, Backend, TestApp, PASSWORD};
use crate::oidc::{authorize_url_as, sign_in, spawn, state_of, BROWSER_VERIFIER};
use crate::standin::{Grant, StandIn};

/// The round trip of linking: authorize, the person logs in, POST /link with the bearer.
async fn link(app: &TestApp, standin: &StandIn, access: &str, grant: Grant) -> Response {
    let url = authorize_url_as(app, "acme", Some(access)).await;
    let code = standin.issue_code(&url, grant);
    let body = json!({ "code": code, "state": state_of(&url), "code_verifier": BROWSER_VERIFIER });
    app.post_with_bearer("/api/auth/oidc/acme/link", access, &body)
        .await
}

async fn an_existing_email_links_only_when_verified_and_allowed(backend: Backend) {
    let Some((app, standin)) = spawn(backend, |_, _| {}).await else {
        return;
    };
    let local = app.register(&unique_email()).await;
    let takeover = sign_in(&app, &standin, "acme", Grant::new("attacker", &local.email)).await;
    expect_error(takeover, StatusCode::CONFLICT, "account_exists").await;
    drop((app, standin));

    let Some((app, standin)) = spawn(backend, |s, _| s.oidc.link_verified_email = true).await
    else {
        return;
    };
    // Pre-account takeover: an attacker registered the victim's email with a password of
    // their own. The victim's verified provider sign-in is not linked to it.
    let planted = app.register(&unique_email()).await;
    let unverified = Grant {
        email_verified: false,
        ..Grant::new("unverified", &planted.email)
    };
    expect_error(
        sign_in(&app, &standin, "acme", unverified).await,
        StatusCode::CONFLICT,
        "account_exists",
    )
    .await;
    expect_error(
        sign_in(&app, &standin, "acme", Grant::new("victim", &planted.email)).await,
        StatusCode::CONFLICT,
        "account_exists",
    )
    .await;
    expect_status(app.login(&planted.email, PASSWORD).await, StatusCode::OK).await;

    // An account whose own email is verified links, and keeps its password.
    let owner = app.register(&unique_email()).await;
    authd::db::users::User::set_email_verified(&mut app.db_conn(), &owner.id, true).unwrap();
    let linked = expect_status(
        sign_in(&app, &standin, "acme", Grant::new("owner", &owner.email)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(linked["isNewUser"], false);
    assert_eq!(linked["user"]["id"], owner.id.as_str());
    expect_status(app.login(&owner.email, PASSWORD).await, StatusCode::OK).await;

    // An account with no password (made by another provider that did not vouch for the email)
    // links, and its email is now verified.
    let email = unique_email();
    let first = Grant {
        email_verified: false,
        ..Grant::new("first", &email)
    };
    let created = expect_status(
        sign_in(&app, &standin, "other", first).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(created["user"]["emailVerified"], false);
    let linked = expect_status(
        sign_in(&app, &standin, "acme", Grant::new("second", &email)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(linked["user"]["id"], created["user"]["id"]);
    assert_eq!(linked["user"]["emailVerified"], true);
}

async fn a_signed_in_user_links_and_unlinks_identities(backend: Backend) {
    let Some((app, standin)) = spawn(backend, |_, _| {}).await else {
        return;
    };
    let local = app.register(&unique_email()).await;
    let linked = link(
        &app,
        &standin,
        &local.access,
        Grant::new("linked-sub", "elsewhere@example.com"),
    )
    .await;
    let body = expect_status(linked, StatusCode::OK).await;
    assert_eq!(body["identity"]["subject"], "linked-sub");
    assert_eq!(body["user"]["id"], local.id.as_str());
    // The identity now signs in to the local account.
    let signed_in = expect_status(
        sign_in(
            &app,
            &standin,
            "acme",
            Grant::new("linked-sub", "elsewhere@example.com"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(signed_in["user"]["id"], local.id.as_str());

    // Someone else cannot link the same identity.
    let other = app.register(&unique_email()).await;
    let stolen = link(
        &app,
        &standin,
        &other.access,
        Grant::new("linked-sub", "elsewhere@example.com"),
    )
    .await;
    expect_error(stolen, StatusCode::CONFLICT, "identity_taken").await;

    // A user with a password may unlink; someone else's identity is not found.
    let identities = expect_status(
        app.get_with_bearer("/api/auth/identities", &local.access)
            .await,
        StatusCode::OK,
    )
    .await;
    let id = identities[0]["id"].as_str().unwrap();
    let path = app.url(&format!("/api/auth/identities/{id}"));
    let foreign = app
        .client
        .delete(&path)
        .bearer_auth(&other.access)
        .send()
        .await
        .unwrap();
    expect_error(foreign, StatusCode::NOT_FOUND, "not_found").await;
    let unlinked = app
        .client
        .delete(&path)
        .bearer_auth(&local.access)
        .send()
        .await
        .unwrap();
    assert_eq!(unlinked.status(), StatusCode::NO_CONTENT);
    let events = crate::audit::event_types_of(&app, &local.id);
    for expected in ["identity.linked", "identity.unlinked"] {
        assert!(events.contains(&expected.to_owned()), "{events:?}");
    }

    // A provider-only user cannot remove their only way to sign in.
    let only = expect_status(
        sign_in(
            &app,
            &standin,
            "acme",
            Grant::new("only-way", &unique_email()),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let access = only["access"].as_str().unwrap();
    let identities = expect_status(
        app.get_with_bearer("/api/auth/identities", access).await,
        StatusCode::OK,
    )
    .await;
    let path = app.url(&format!(
        "/api/auth/identities/{}",
        identities[0]["id"].as_str().unwrap()
    ));
    let refused = app
        .client
        .delete(&path)
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    expect_error(refused, StatusCode::CONFLICT, "last_login_method").await;
}

crate::on_both_backends!(
    an_existing_email_links_only_when_verified_and_allowed,
    a_signed_in_user_links_and_unlinks_identities,
);
