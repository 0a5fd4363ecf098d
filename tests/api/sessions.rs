//! The session list (`GET /api/auth/sessions`), ending one session from it, and logout with
//! `"scope": "others"`.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    expect_error, expect_status, pair_of, spawn_app, unique_email, Backend, TestApp, PASSWORD,
};

async fn list(app: &TestApp, access: &str) -> Vec<Value> {
    let body = expect_status(
        app.get_with_bearer("/api/auth/sessions", access).await,
        StatusCode::OK,
    )
    .await;
    body.as_array().expect("a list").clone()
}

/// A password login from a browser with this user agent: (access, refresh).
async fn login_as(app: &TestApp, email: &str, user_agent: &str) -> (String, String) {
    let response = app
        .client
        .post(app.url("/api/auth/login"))
        .header("User-Agent", user_agent)
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    pair_of(&expect_status(response, StatusCode::OK).await)
}

async fn delete(app: &TestApp, access: &str, id: &str) -> reqwest::Response {
    app.client
        .delete(app.url(&format!("/api/auth/sessions/{id}")))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
}

async fn each_sign_in_is_listed_with_where_it_came_from(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let long_agent = format!("Firefox/128\ton Linux {}", "x".repeat(300));
    let (phone_access, phone_refresh) = login_as(&app, &account.email, "Mobile Safari/17").await;
    let (laptop_access, _) = login_as(&app, &account.email, &long_agent).await;

    let sessions = list(&app, &laptop_access).await;
    assert_eq!(sessions.len(), 3, "{sessions:#?}");
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    let laptop = current[0];
    let agent = laptop["userAgent"].as_str().unwrap();
    assert!(agent.starts_with("Firefox/128on Linux x"), "{agent:?}");
    assert_eq!(agent.chars().count(), 200);
    for session in &sessions {
        assert_eq!(session["method"], "password");
        assert_eq!(session["ip"], "127.0.0.1");
        assert!(session["id"].as_str().is_some_and(|id| id.len() == 36));
        assert_eq!(session["lastUsedAt"], session["createdAt"]);
    }

    // A refresh marks the phone's session used and puts it first.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let refreshed = expect_status(app.refresh(&phone_refresh).await, StatusCode::OK).await;
    let sessions = list(&app, &laptop_access).await;
    let first = &sessions[0];
    assert!(
        first["lastUsedAt"].as_str() > first["createdAt"].as_str(),
        "{first}"
    );
    assert_eq!(first["userAgent"], "Mobile Safari/17");
    let (new_phone_access, _) = pair_of(&refreshed);
    let from_phone = list(&app, &new_phone_access).await;
    assert_eq!(from_phone[0]["current"], true);
    assert_eq!(from_phone[0]["id"], first["id"]);
    // Another user sees only their own.
    let other = app.register(&unique_email()).await;
    assert_eq!(list(&app, &other.access).await.len(), 1);
    let _ = phone_access;
}

async fn a_session_ended_from_the_list_is_over(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let (stolen_access, stolen_refresh) = login_as(&app, &account.email, "curl/8").await;
    let sessions = list(&app, &account.access).await;
    let stolen = sessions
        .iter()
        .find(|s| s["userAgent"] == "curl/8")
        .expect("the second session")["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let stranger = app.register(&unique_email()).await;
    expect_error(
        delete(&app, &stranger.access, &stolen).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        delete(&app, &account.access, "no-such-session").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_status(
        app.get_with_bearer("/api/auth/me", &stolen_access).await,
        StatusCode::OK,
    )
    .await;

    assert_eq!(
        delete(&app, &account.access, &stolen).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        delete(&app, &account.access, &stolen).await.status(),
        StatusCode::NO_CONTENT,
        "ending it twice"
    );
    expect_error(
        app.refresh(&stolen_refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    expect_error(
        app.get_with_bearer("/api/auth/me", &stolen_access).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    let left = list(&app, &account.access).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["current"], true);
    expect_status(app.refresh(&account.refresh).await, StatusCode::OK).await;
}

async fn logout_of_the_other_sessions_keeps_this_one(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let account = app.register(&unique_email()).await;
    let (_, second) = app.login_pair(&account.email).await;
    let (_, third) = app.login_pair(&account.email).await;
    let logout = |body: Value, bearer: Option<String>| {
        let app = &app;
        async move {
            let request = app.client.post(app.url("/api/auth/logout")).json(&body);
            match bearer {
                Some(token) => request.bearer_auth(token),
                None => request,
            }
            .send()
            .await
            .unwrap()
        }
    };
    expect_error(
        logout(json!({ "scope": "others" }), None).await,
        StatusCode::UNAUTHORIZED,
        "not_authenticated",
    )
    .await;
    for bad in [
        json!({ "scope": "everyone" }),
        json!({ "scope": "others", "all": true }),
    ] {
        expect_error(
            logout(bad, Some(account.access.clone())).await,
            StatusCode::BAD_REQUEST,
            "validation_error",
        )
        .await;
    }
    assert_eq!(
        list(&app, &account.access).await.len(),
        3,
        "a refused logout ended sessions"
    );
    let done = logout(json!({ "scope": "others" }), Some(account.access.clone())).await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    for ended in [second, third] {
        expect_error(
            app.refresh(&ended).await,
            StatusCode::UNAUTHORIZED,
            "token_revoked",
        )
        .await;
    }
    expect_status(app.refresh(&account.refresh).await, StatusCode::OK).await;
    assert_eq!(list(&app, &account.access).await.len(), 1);
}

crate::on_both_backends!(
    each_sign_in_is_listed_with_where_it_came_from,
    a_session_ended_from_the_list_is_over,
    logout_of_the_other_sessions_keeps_this_one,
);
