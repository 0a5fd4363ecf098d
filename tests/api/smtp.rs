//! A real SMTP server for the email tests: `tests/smtp/server.py` (PyPI aiosmtpd) as a child
//! process, writing each accepted message to a folder the tests read. Skipped with a message
//! where aiosmtpd is not installed, unless AUTHD_TEST_REQUIRE_SMTP=1 (set by CI).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The interpreter with aiosmtpd: AUTHD_TEST_SMTP_PYTHON, or the venv `scripts/test` and
/// `.ci/run` make in `target/smtp-venv`.
fn python() -> Option<PathBuf> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let candidates = [
                std::env::var_os("AUTHD_TEST_SMTP_PYTHON").map(PathBuf::from),
                Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("target/smtp-venv/bin/python")),
            ];
            let found = candidates.into_iter().flatten().find(|python| {
                Command::new(python)
                    .args(["-c", "import aiosmtpd"])
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            });
            if found.is_none() {
                if std::env::var("AUTHD_TEST_REQUIRE_SMTP").as_deref() == Ok("1") {
                    panic!("AUTHD_TEST_REQUIRE_SMTP=1 but no Python with aiosmtpd was found");
                }
                eprintln!(
                    "SKIPPING SMTP tests: no Python with aiosmtpd (scripts/test makes \
                     target/smtp-venv; or set AUTHD_TEST_SMTP_PYTHON)"
                );
            }
            found
        })
        .clone()
}

pub struct SmtpServer {
    child: Option<Child>,
    pub port: u16,
    pub folder: tempfile::TempDir,
}

impl SmtpServer {
    /// A server on a free port; `fail_first` messages are answered 451 first.
    pub fn start(fail_first: u32) -> Option<Self> {
        let folder = tempfile::tempdir().unwrap();
        let port = crate::process::free_port();
        let mut server = Self {
            child: None,
            port,
            folder,
        };
        server.restart(fail_first)?;
        Some(server)
    }

    /// (Re)starts the server on its port, keeping the messages received so far.
    pub fn restart(&mut self, fail_first: u32) -> Option<()> {
        self.stop();
        let mut child = Command::new(python()?)
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp/server.py"))
            .arg(self.port.to_string())
            .arg(self.folder.path())
            .args(["--fail-first", &fail_first.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the SMTP server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "listening", "the SMTP server did not start");
        self.child = Some(child);
        Some(())
    }

    /// Stops the server; connections are refused until `restart`.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received, oldest first, with its text parts decoded.
    pub fn messages(&self) -> Vec<Mail> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.folder.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            // The server writes `.NAME.eml` and then renames it: a dot file is still being written.
            .filter(|path| {
                path.extension().is_some_and(|e| e == "eml")
                    && !path
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|path| Mail::parse(&std::fs::read_to_string(path).unwrap()))
            .collect()
    }

    /// Waits until a message to `to` has arrived (beyond `after` earlier ones to it); returns it.
    pub async fn wait_for(&self, to: &str, after: usize) -> Mail {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut to_them: Vec<Mail> = self
                .messages()
                .into_iter()
                .filter(|m| m.to.eq_ignore_ascii_case(to))
                .collect();
            if to_them.len() > after {
                return to_them.remove(after);
            }
            assert!(Instant::now() < deadline, "no message to {to} within 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the tests read of a message.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    /// The decoded text of every part.
    pub text: String,
}

impl Mail {
    fn parse(raw: &str) -> Self {
        let header = |name: &str| {
            raw.lines()
                .find_map(|line| {
                    line.strip_prefix(name)
                        .and_then(|rest| rest.strip_prefix(": "))
                })
                .unwrap_or_default()
                .trim()
                .to_owned()
        };
        let to = header("To");
        let to = to
            .rsplit_once('<')
            .map_or(to.as_str(), |(_, addr)| addr.trim_end_matches('>'))
            .to_owned();
        Self {
            to,
            subject: header("Subject"),
            text: decode_quoted_printable(raw),
        }
    }

    /// The token of the link in the message.
    pub fn token(&self) -> String {
        let start = self.text.find("token=").expect("a link with a token") + "token=".len();
        self.text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }

    /// The six-digit code of a sign-in message.
    pub fn code(&self) -> String {
        let start = self.text.find("code: ").expect("a code") + "code: ".len();
        self.text[start..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect()
    }
}

/// Soft line breaks joined and `=XX` decoded; plain text passes through.
fn decode_quoted_printable(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
