//! What running authd in a container relies on: the `healthcheck` command, a graceful stop on
//! SIGTERM, a signing key that racing processes generate exactly once, and migrations that
//! replicas starting together apply exactly once.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};
use serde_json::json;

use crate::helpers::{postgres_admin_url, unique_email, Backend, TestDatabase, PASSWORD};
use crate::process::{authd, free_port, run, text, RunningServer};

#[test]
fn healthcheck_exits_0_when_ready_and_1_otherwise() {
    let db = TestDatabase::create(Backend::Sqlite).unwrap();
    let server = RunningServer::start(&db, &[]);
    let port = server.port.to_string();

    // The default URL: /readyz on loopback, at the configured port.
    let ready = run(&mut authd(&["healthcheck"], &db, &[("PORT", &port)]), None);
    assert!(
        ready.status.success(),
        "{:?}: {}",
        ready.status,
        text(&ready.stderr)
    );
    assert!(text(&ready.stdout).contains("/readyz: 200"), "{ready:?}");

    let missing = format!("{}/no-such-page", server.base);
    let not_found = run(
        &mut authd(&["healthcheck", "--url", &missing], &db, &[]),
        None,
    );
    assert_eq!(not_found.status.code(), Some(1), "{not_found:?}");
    assert!(text(&not_found.stderr).contains("404"), "{not_found:?}");

    let closed = free_port().to_string();
    let refused = run(
        &mut authd(&["healthcheck"], &db, &[("PORT", &closed)]),
        None,
    );
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(
        text(&refused.stderr).contains("connection refused"),
        "{refused:?}"
    );
}

/// A server whose database is gone is alive but not ready: the health check fails.
#[test]
fn healthcheck_fails_when_the_database_is_gone() {
    let Some(db) = TestDatabase::create(Backend::Postgres) else {
        return;
    };
    let server = RunningServer::start(&db, &[("AUTHD__DATABASE__CONNECT_TIMEOUT_SECS", "1")]);
    let check = || {
        run(
            &mut authd(&["healthcheck"], &db, &[("PORT", &server.port.to_string())]),
            None,
        )
    };
    assert!(check().status.success());

    let name = db.url.rsplit('/').next().unwrap().to_owned();
    let mut admin = PgConnection::establish(&postgres_admin_url()).unwrap();
    diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .unwrap();
    let unready = check();
    assert_eq!(unready.status.code(), Some(1), "{unready:?}");
    assert!(text(&unready.stderr).contains("503"), "{unready:?}");
}

/// A request whose head has arrived, with the first half of its body.
fn start_register_request(port: u16) -> (TcpStream, String) {
    let body = json!({ "email": unique_email(), "password": PASSWORD }).to_string();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "POST /api/auth/register HTTP/1.1\r\nHost: authd\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{first}",
        body.len()
    )
    .unwrap();
    stream.flush().unwrap();
    (stream, rest.to_owned())
}

#[test]
fn sigterm_lets_the_request_in_flight_finish_then_exits_0() {
    let db = TestDatabase::create(Backend::Sqlite).unwrap();
    let mut server = RunningServer::start(&db, &[("AUTHD__SERVER__SHUTDOWN_TIMEOUT_SECS", "20")]);
    let (mut stream, rest) = start_register_request(server.port);
    std::thread::sleep(Duration::from_millis(300));

    server.signal(libc::SIGTERM);
    // New connections are no longer taken, while the request in flight is still open.
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(("127.0.0.1", server.port)).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(server.child.try_wait().unwrap().is_none(), "exited early");

    stream.write_all(rest.as_bytes()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    assert!(
        response.starts_with("HTTP/1.1 201"),
        "the request in flight got: {response:?}\n{}",
        server.log_text()
    );
    assert!(response.contains("\"access\""), "{response}");

    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("authd exits once the request is answered");
    assert_eq!(status.code(), Some(0), "{}", server.log_text());
}

/// A request that never completes holds the exit up only for `server.shutdown_timeout_secs`.
#[test]
fn sigterm_exits_0_after_the_shutdown_timeout_when_a_request_never_ends() {
    let db = TestDatabase::create(Backend::Sqlite).unwrap();
    let mut server = RunningServer::start(&db, &[("AUTHD__SERVER__SHUTDOWN_TIMEOUT_SECS", "1")]);
    let (_stalled, _rest) = start_register_request(server.port);
    std::thread::sleep(Duration::from_millis(300));

    let sent = Instant::now();
    server.signal(libc::SIGTERM);
    let status = server
        .wait_exit(Duration::from_secs(15))
        .expect("authd exits despite the stalled request");
    let took = sent.elapsed();
    assert_eq!(status.code(), Some(0), "{}", server.log_text());
    assert!(
        took >= Duration::from_millis(900),
        "exited after {took:?}, before the request had its second"
    );
    assert!(
        took < Duration::from_secs(4),
        "took {took:?}: the 1 s shutdown timeout was not applied (the default is 5 s)"
    );
}

#[test]
fn keys_generate_if_missing_keeps_the_one_key_that_racing_processes_made() {
    use ed25519_dalek::pkcs8::DecodePrivateKey;
    use std::os::unix::fs::PermissionsExt;

    let db = TestDatabase::create(Backend::Sqlite).unwrap();
    let dir = db.dir.path().join("keys");
    let path = dir.join("signing-key.pem");
    let path_arg = path.to_str().unwrap();
    let args = ["keys", "generate", "--out", path_arg, "--if-missing"];
    let racers: Vec<_> = (0..6)
        .map(|_| {
            authd(&args, &db, &[])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for racer in racers {
        let output = racer.wait_with_output().unwrap();
        assert!(output.status.success(), "{output:?}");
    }
    let key = std::fs::read_to_string(&path).unwrap();
    ed25519_dalek::SigningKey::from_pkcs8_pem(&key).expect("a whole Ed25519 key");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["signing-key.pem", "signing-key.pem.pub"],
        "leftover files"
    );

    let again = run(&mut authd(&args, &db, &[]), None);
    assert!(again.status.success(), "{again:?}");
    assert!(text(&again.stdout).contains("kept the existing key"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), key);

    let refused = run(
        &mut authd(&["keys", "generate", "--out", path_arg], &db, &[]),
        None,
    );
    assert!(!refused.status.success());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), key);
}

/// Replicas that start together each run the migrations; one applies them and the others wait
/// for it, then find nothing left to do. None of them fails.
#[test]
fn replicas_starting_together_apply_the_migrations_once() {
    let Some(db) = TestDatabase::create(Backend::Postgres) else {
        return;
    };
    let replicas = 4;
    let barrier = Arc::new(Barrier::new(replicas));
    let runs: Vec<_> = (0..replicas)
        .map(|_| {
            let url = db.url.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut conn = authd::db::DbTarget::parse(&url).unwrap().connect().unwrap();
                barrier.wait();
                authd::db::run_migrations(&mut conn)
            })
        })
        .collect();
    let mut applied = Vec::new();
    for run in runs {
        applied.extend(
            run.join()
                .unwrap()
                .expect("every replica's migrations succeed"),
        );
    }
    let expected = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .count();
    assert_eq!(applied.len(), expected, "applied: {applied:?}");
}
