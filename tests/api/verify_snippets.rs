//! The verification snippets for other languages (`examples/verify/verify.py` with PyJWT and
//! `verify.mjs` with jose), run against a live authd: a valid access token is accepted; an
//! expired one, a refresh token, a tampered one and one with a made-up kid are refused as
//! documented; a token of a rotated key, whose kid they have not seen, is accepted after they
//! refetch the JWKS.
//!
//! Needs a Python with PyJWT (`AUTHD_TEST_PYTHON`, or target/smtp-venv, which scripts/test
//! sets up) and Node.js with examples/verify's node_modules; skipped with a message without
//! them, unless `AUTHD_TEST_REQUIRE_EXAMPLES=1` (as in CI).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use crate::helpers::{claims_of, header_of, key_path, spawn_app, unique_email, Backend, TestApp};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/verify");

struct Snippet {
    name: &'static str,
    child: Child,
    answers: BufReader<ChildStdout>,
}

impl Drop for Snippet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Snippet {
    fn check(&mut self, token: &str) -> String {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{token}").unwrap();
        stdin.flush().unwrap();
        let mut answer = String::new();
        self.answers.read_line(&mut answer).unwrap();
        assert!(!answer.is_empty(), "{} stopped", self.name);
        answer.trim().to_owned()
    }
}

fn skip_or_fail(missing: &str) -> Option<Vec<Snippet>> {
    if std::env::var("AUTHD_TEST_REQUIRE_EXAMPLES").as_deref() == Ok("1") {
        panic!("AUTHD_TEST_REQUIRE_EXAMPLES=1 but {missing}");
    }
    eprintln!("SKIPPING the verification snippets: {missing}");
    None
}

fn python() -> Option<String> {
    let candidates = [
        std::env::var("AUTHD_TEST_PYTHON").ok(),
        Some(concat!(env!("CARGO_MANIFEST_DIR"), "/target/smtp-venv/bin/python").to_owned()),
    ];
    candidates.into_iter().flatten().find(|python| {
        Command::new(python)
            .args(["-c", "import jwt, cryptography"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn start_snippets(app: &TestApp) -> Option<Vec<Snippet>> {
    let Some(python) = python() else {
        return skip_or_fail("no Python with PyJWT (pip install \"pyjwt[crypto]\")");
    };
    let node_ready = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        && std::path::Path::new(DIR).join("node_modules/jose").exists();
    if !node_ready {
        return skip_or_fail("no Node.js, or no npm ci in examples/verify");
    }
    let programs = [
        ("python", python, "verify.py"),
        ("node", "node".to_owned(), "verify.mjs"),
    ];
    let snippets = programs.into_iter().map(|(name, program, file)| {
        let mut child = Command::new(program)
            .arg(file)
            .current_dir(DIR)
            .env("AUTHD_ISSUER", &app.settings.jwt.issuer)
            .env("AUTHD_JWKS_URL", app.url("/.well-known/jwks.json"))
            .env("AUTHD_REFETCH_SECS", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let answers = BufReader::new(child.stdout.take().unwrap());
        Snippet {
            name,
            child,
            answers,
        }
    });
    Some(snippets.collect())
}

/// A token signed with the server's own key and claims, but expired half an hour ago, or
/// naming a kid that does not exist.
fn forged(app: &TestApp, model: &str, kid: Option<&str>, expired: bool) -> String {
    let private = std::fs::read_to_string(key_path(&app.db)).unwrap();
    let key = jsonwebtoken::EncodingKey::from_ed_pem(private.as_bytes()).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.typ = Some("at+jwt".into());
    header.kid = Some(kid.map_or_else(
        || header_of(model)["kid"].as_str().unwrap().to_owned(),
        str::to_owned,
    ));
    let mut claims = claims_of(model);
    if expired {
        let now = chrono::Utc::now().timestamp();
        claims["iat"] = (now - 2700).into();
        claims["exp"] = (now - 1800).into();
    }
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

#[tokio::test]
async fn the_python_and_node_snippets_verify_as_documented() {
    let Some(mut app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let Some(mut snippets) = start_snippets(&app) else {
        return;
    };
    let ann = app.register(&unique_email()).await;
    let mut tampered = ann.access.clone();
    tampered.insert(tampered.len() - 3, 'A');
    let expired = forged(&app, &ann.access, None, true);
    let unknown_kid = forged(&app, &ann.access, Some("made-up"), false);
    for snippet in &mut snippets {
        let name = snippet.name;
        assert_eq!(
            snippet.check(&ann.access),
            format!("valid {}", ann.id),
            "{name}"
        );
        assert_eq!(snippet.check(&expired), "expired", "{name}");
        for refused in [&ann.refresh, &tampered, &unknown_kid] {
            let answer = snippet.check(refused);
            assert!(answer.starts_with("invalid"), "{name}: {answer}");
        }
    }

    // A new signing key, the old one still verifying: the first token of the new key names a
    // kid the snippets have not seen, and they refetch the key set.
    let old_kid = crate::keys::rotate_signing_key(&mut app, &ann.access);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (rotated, _) = app.login_pair(&ann.email).await;
    assert_ne!(header_of(&rotated)["kid"], old_kid.as_str());
    for snippet in &mut snippets {
        let name = snippet.name;
        assert_eq!(
            snippet.check(&rotated),
            format!("valid {}", ann.id),
            "{name}"
        );
        assert_eq!(
            snippet.check(&ann.access),
            format!("valid {}", ann.id),
            "{name}"
        );
    }
}
