//! Sign-in through GitHub (OAuth 2.0 and its API), Apple (a signed client secret, the name in
//! the form post) and a multi-tenant OpenID issuer, against the stand-in provider.

use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::json;

use crate::helpers::{
    expect_error, expect_reason, expect_status, spawn_app_with, unique_email, Backend,
};
use crate::oidc::{authorize_url, post_callback, provider, sign_in, state_of, BROWSER_VERIFIER};
use crate::standin::{Grant, StandIn};

#[tokio::test]
async fn github_signs_in_with_the_verified_primary_email() {
    let standin = StandIn::start();
    let mut github = provider("github", "", "");
    github.authorization_url = format!("{}/login/oauth/authorize", standin.base);
    github.token_url = format!("{}/login/oauth/access_token", standin.base);
    github.api_url = standin.base.clone();
    let Some(app) = spawn_app_with(Backend::Sqlite, |s| {
        s.oidc.providers.insert("github".into(), github);
    })
    .await
    else {
        return;
    };
    let url = authorize_url(&app, "github").await;
    assert!(url.contains("scope=read%3Auser+user%3Aemail"), "{url}");
    let code = standin.issue_code(&url, Grant::new("583231", "mona@example.com"));
    let body = expect_status(
        post_callback(&app, "github", &code, &state_of(&url)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["user"]["email"], "mona@example.com");
    assert_eq!(body["user"]["firstName"], "Mona");
    let identities = expect_status(
        app.get_with_bearer("/api/auth/identities", body["access"].as_str().unwrap())
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(identities[0]["subject"], "583231");
    // A code GitHub does not know.
    let url = authorize_url(&app, "github").await;
    expect_reason(
        post_callback(&app, "github", "bogus", &state_of(&url)).await,
        StatusCode::BAD_REQUEST,
        "oidc_exchange_failed",
        "bad_verification_code",
    )
    .await;
}

#[tokio::test]
async fn apple_gets_a_signed_client_secret_and_the_name_from_the_form_post() {
    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let standin = StandIn::start();
    let team_key = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let public = team_key
        .public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    standin.expect_apple_client_secret("TEAM123456", "KEY1234567", &public);
    let mut apple = provider("apple", &standin.base, "");
    apple.client_secret = SecretString::from(String::new());
    apple.team_id = "TEAM123456".into();
    apple.key_id = "KEY1234567".into();
    apple.private_key =
        SecretString::from(team_key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string());
    let Some(app) = spawn_app_with(Backend::Sqlite, |s| {
        s.oidc.providers.insert("apple".into(), apple);
    })
    .await
    else {
        return;
    };
    let url = authorize_url(&app, "apple").await;
    assert!(url.contains("response_mode=form_post"), "{url}");
    assert!(url.contains("scope=openid+email+name"), "{url}");
    let grant = Grant {
        overrides: json!({ "given_name": null, "family_name": null }),
        ..Grant::new("001234.apple.sub", "hidden@privaterelay.appleid.com")
    };
    let code = standin.issue_code(&url, grant);
    let user = r#"{"name":{"firstName":"Ada","lastName":"Lovelace"},"email":"hidden@privaterelay.appleid.com"}"#;
    let body = json!({ "code": code, "state": state_of(&url), "user": user, "code_verifier": BROWSER_VERIFIER });
    let body = expect_status(
        app.post("/api/auth/oidc/apple/callback", &body).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["user"]["firstName"], "Ada");
    assert_eq!(body["user"]["lastName"], "Lovelace");
    assert_eq!(body["user"]["email"], "hidden@privaterelay.appleid.com");
}

/// Microsoft's `common` endpoint: the issuer is a template, validated against each token's tid.
#[tokio::test]
async fn a_multi_tenant_issuer_is_checked_against_the_token_tenant() {
    let standin = StandIn::start();
    standin.advertise_tenant_template();
    let common = format!("{}/common/v2.0", standin.base);
    let Some(app) = spawn_app_with(Backend::Sqlite, |s| {
        s.oidc
            .providers
            .insert("microsoft".into(), provider("oidc", &common, ""));
    })
    .await
    else {
        return;
    };
    let tenant = "9188040d-6c67-4c5b-b112-36a304b66dad";
    let own_issuer = format!("{}/{tenant}/v2.0", standin.base);
    let good = Grant {
        overrides: json!({ "iss": own_issuer, "tid": tenant }),
        ..Grant::new("entra-user", &unique_email())
    };
    expect_status(
        sign_in(&app, &standin, "microsoft", good).await,
        StatusCode::OK,
    )
    .await;
    let forged = Grant {
        overrides: json!({ "iss": own_issuer, "tid": "another-tenant" }),
        ..Grant::new("entra-user-2", &unique_email())
    };
    expect_reason(
        sign_in(&app, &standin, "microsoft", forged).await,
        StatusCode::UNAUTHORIZED,
        "oidc_token_invalid",
        "issuer",
    )
    .await;
    let missing = Grant {
        overrides: json!({ "iss": own_issuer }),
        ..Grant::new("entra-user-3", &unique_email())
    };
    expect_error(
        sign_in(&app, &standin, "microsoft", missing).await,
        StatusCode::UNAUTHORIZED,
        "oidc_token_invalid",
    )
    .await;
}
