//! authd-verify's `RemoteVerifier` key cache against a JWKS endpoint that counts its fetches:
//! made-up kids cost no request within the refetch interval (a miss is remembered), one
//! refetch after it, and the cached keys keep verifying while the endpoint fails.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use authd_verify::{RemoteVerifier, VerifyError};
use serde_json::Value;

use crate::helpers::{claims_of, key_path, spawn_app, unique_email, Backend};

struct KeyEndpoint {
    url: String,
    fetches: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for KeyEndpoint {
    fn drop(&mut self) {
        futures::executor::block_on(self.handle.stop(false));
    }
}

/// Serves `jwks`, counting requests; answers 503 while `failing` is set.
fn key_endpoint(jwks: Value) -> KeyEndpoint {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    let (fetches, failing) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let (counted, fails) = (fetches.clone(), failing.clone());
    let server = HttpServer::new(move || {
        let (jwks, counted, fails) = (jwks.clone(), counted.clone(), fails.clone());
        App::new().route(
            "/jwks",
            web::get().to(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                let answer = match fails.load(Ordering::SeqCst) {
                    true => HttpResponse::ServiceUnavailable().finish(),
                    false => HttpResponse::Ok().json(&jwks),
                };
                async move { answer }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    std::thread::spawn(move || actix_web::rt::System::new().block_on(server));
    KeyEndpoint {
        url,
        fetches,
        failing,
        handle,
    }
}

#[tokio::test]
async fn unknown_kids_are_remembered_and_the_cache_outlives_an_outage() {
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let ann = app.register(&unique_email()).await;
    let endpoint = key_endpoint(app.get_ok("/.well-known/jwks.json").await);
    let verifier = RemoteVerifier::builder(&app.settings.jwt.issuer)
        .jwks_url(&endpoint.url)
        .refetch_interval(Duration::from_millis(400))
        .build()
        .await
        .unwrap();
    let fetches = || endpoint.fetches.load(Ordering::SeqCst);
    assert_eq!(fetches(), 1);
    assert_eq!(
        verifier.verify_access(&ann.access).await.unwrap().sub,
        ann.id
    );

    // A token naming a kid nobody has, signed with the real key.
    let private = std::fs::read_to_string(key_path(&app.db)).unwrap();
    let key = jsonwebtoken::EncodingKey::from_ed_pem(private.as_bytes()).unwrap();
    let made_up = |kid: String| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.typ = Some("at+jwt".into());
        header.kid = Some(kid);
        jsonwebtoken::encode(&header, &claims_of(&ann.access), &key).unwrap()
    };
    for i in 0..50 {
        let refused = verifier.verify_access(&made_up(format!("flood-{i}"))).await;
        assert_eq!(refused.unwrap_err(), VerifyError::UnknownKey);
    }
    assert_eq!(
        fetches(),
        1,
        "a flood of unknown kids reached the key endpoint"
    );

    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..20 {
        let _ = verifier.verify_access(&made_up(format!("later-{i}"))).await;
    }
    assert_eq!(fetches(), 2, "one refetch per interval");

    // The endpoint fails: the refetch fails, the cached keys keep verifying.
    endpoint.failing.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = verifier
        .verify_access(&made_up("during-outage".into()))
        .await;
    assert_eq!(fetches(), 3);
    assert_eq!(
        verifier.verify_access(&ann.access).await.unwrap().sub,
        ann.id
    );
}
