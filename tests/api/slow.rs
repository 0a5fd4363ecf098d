//! Slow bodies (slowloris): a client that declares a large body and trickles it is cut off
//! after `server.body_timeout_secs`, may hold only `server.max_concurrent_requests_per_ip`
//! requests at once, and meanwhile everyone else is served.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{expect_status, spawn_app_with, unique_email, Backend, PASSWORD};

const CAP: usize = 8;
const ATTACKERS: usize = 20;

/// A login whose head declares 60,000 bytes of body, of which one byte is sent.
fn slow_request(port: u16) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "POST /api/auth/login HTTP/1.1\r\nHost: authd\r\nX-Forwarded-For: 6.6.6.6\r\n\
         Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n{{"
    )
    .unwrap();
    stream.flush().unwrap();
    stream
}

fn status_line(mut stream: TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn slow_bodies_are_cut_off_and_other_clients_are_served() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |s| {
        s.server.body_timeout_secs = 1;
        s.server.max_concurrent_requests_per_ip = CAP;
        s.server.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await
    else {
        return;
    };
    let port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let slow: Vec<TcpStream> = (0..ATTACKERS).map(|_| slow_request(port)).collect();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Everyone else is served while the slow requests are held.
    let other = |path: &str| {
        app.client
            .get(app.url(path))
            .header("X-Forwarded-For", "7.7.7.7")
    };
    expect_status(other("/healthz").send().await.unwrap(), StatusCode::OK).await;
    let email = unique_email();
    let register = app
        .client
        .post(app.url("/api/auth/register"))
        .header("X-Forwarded-For", "7.7.7.7")
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    expect_status(register, StatusCode::CREATED).await;

    // The attacker got CAP requests in progress; the rest were refused at once. After the
    // body timeout the held ones are answered 408 and closed.
    let lines =
        tokio::task::spawn_blocking(move || slow.into_iter().map(status_line).collect::<Vec<_>>())
            .await
            .unwrap();
    let timed_out = lines
        .iter()
        .filter(|l| l.starts_with("HTTP/1.1 408"))
        .count();
    let refused = lines
        .iter()
        .filter(|l| l.starts_with("HTTP/1.1 429"))
        .count();
    assert_eq!((timed_out, refused), (CAP, ATTACKERS - CAP), "{lines:#?}");
    // Its allowance comes back once they are gone.
    let login = app
        .client
        .post(app.url("/api/auth/login"))
        .header("X-Forwarded-For", "6.6.6.6")
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    expect_status(login, StatusCode::OK).await;
}

/// A password made to be expensive for the strength estimate (ambiguous l33t characters).
fn crafted_password(seed: u64) -> String {
    let chars = ['1', '|', '!', 'l'];
    let mut state = seed | 1;
    (0..256)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chars[(state % 4) as usize]
        })
        .collect()
}

/// The strength estimate runs off the workers that answer requests, on a bounded prefix: crafted
/// registrations in flight do not hold up anyone else, `/healthz` included.
#[tokio::test]
async fn crafted_passwords_do_not_stall_other_routes() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |s| {
        s.rate_limit.register_per_ip = None;
    })
    .await
    else {
        return;
    };
    let bodies: Vec<_> = (0..8)
        .map(|i| json!({ "email": unique_email(), "password": crafted_password(i + 1) }))
        .collect();
    let registrations = bodies
        .iter()
        .map(|body| app.post("/api/auth/register", body));
    let health = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        app.client
            .get(app.url("/healthz"))
            .timeout(Duration::from_secs(1))
            .send()
            .await
    };
    let (answers, health) = futures::join!(futures::future::join_all(registrations), health);
    let health = health.expect("/healthz did not answer within 1 s during the registrations");
    assert_eq!(health.status(), StatusCode::OK);
    for answer in answers {
        // Weak (400) or accepted (201): what matters is that each got its answer.
        assert!(
            [StatusCode::BAD_REQUEST, StatusCode::CREATED].contains(&answer.status()),
            "{}",
            answer.status()
        );
    }
}
