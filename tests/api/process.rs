//! The `authd` binary as a child process: commands with a clean environment, and a running
//! server to talk to and signal.

use std::io::Write;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::TestDatabase;

/// The binary with a clean environment: the repository's config folder, no stray
/// AUTHD__/DATABASE_URL/PORT from the caller, cheap argon2, and the given variables.
pub fn authd(args: &[&str], db: &TestDatabase, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_authd"));
    command.args(args).current_dir(db.dir.path());
    for (key, _) in std::env::vars() {
        if key.starts_with("AUTHD") || key == "DATABASE_URL" || key == "PORT" || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    command
        .env(
            "AUTHD_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
        )
        .env("AUTHD__DATABASE__URL", &db.url)
        .env("AUTHD__PASSWORD__MEMORY_KIB", "1024")
        .env("AUTHD__PASSWORD__ITERATIONS", "1");
    for (key, value) in vars {
        command.env(key, value);
    }
    command
}

pub fn run(command: &mut Command, stdin: Option<&str>) -> Output {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("authd runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct RunningServer {
    pub child: Child,
    pub base: String,
    pub port: u16,
    log: std::path::PathBuf,
}

impl RunningServer {
    pub fn start(db: &TestDatabase, vars: &[(&str, &str)]) -> Self {
        let port = free_port().to_string();
        let log = db.dir.path().join("authd.log");
        let mut command = authd(&[], db, vars);
        command
            .env("PORT", &port)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let child = command.spawn().unwrap();
        let port: u16 = port.parse().unwrap();
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            port,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "authd did not start: {}",
                server.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RunningServer {
    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) on our own child's pid; no memory is shared.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill failed");
    }

    /// The exit status, once the process has exited; None if it is still running at `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
