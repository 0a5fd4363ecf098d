//! Correctness under concurrent load (speed is measured by the benchmarks, not here).

use futures::future::join_all;
use reqwest::StatusCode;

use crate::helpers::{expect_status, pair_of, spawn_app_with, unique_email, Backend};

async fn login_refresh_and_me_stay_correct_under_concurrency(backend: Backend) {
    // 136 requests at once from one address: more than one client address may have.
    let Some(app) = spawn_app_with(backend, |s| s.server.max_concurrent_requests_per_ip = 0).await
    else {
        return;
    };
    let app = &app;
    let mut accounts = Vec::new();
    for _ in 0..4 {
        accounts.push(app.register(&unique_email()).await);
    }
    let accounts = &accounts;
    let me_burst = (0..120).map(|i| {
        let account = &accounts[i % accounts.len()];
        async move {
            let body = expect_status(
                app.get_with_bearer("/api/auth/me", &account.access).await,
                StatusCode::OK,
            )
            .await;
            assert_eq!(body["id"], account.id.as_str());
        }
    });
    let logins = (0..12).map(|i| {
        let account = &accounts[i % accounts.len()];
        async move {
            let body = expect_status(
                app.login(&account.email, &account.password).await,
                StatusCode::OK,
            )
            .await;
            assert_eq!(body["user"]["id"], account.id.as_str());
        }
    });
    let refresh_chains = accounts.iter().map(|account| async move {
        let mut refresh = account.refresh.clone();
        for _ in 0..8 {
            let body = expect_status(app.refresh(&refresh).await, StatusCode::OK).await;
            let (access, next) = pair_of(&body);
            assert_eq!(
                crate::helpers::claims_of(&access)["sub"],
                account.id.as_str()
            );
            refresh = next;
        }
    });
    futures::join!(
        join_all(me_burst),
        join_all(logins),
        join_all(refresh_chains)
    );
}

crate::on_both_backends!(login_refresh_and_me_stay_correct_under_concurrency);
