//! The servers the tests need besides authd, and whether they are there: PostgreSQL and Redis
//! tests are skipped with a message where the server is missing, unless CI requires them.

use std::sync::OnceLock;

use diesel::{Connection, PgConnection};

pub fn postgres_admin_url() -> String {
    std::env::var("AUTHD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Whether PostgreSQL tests can run. Without a server they are skipped with a message, unless
/// AUTHD_TEST_REQUIRE_POSTGRES=1 (set by CI), where a missing server is a failure.
pub fn postgres_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| match PgConnection::establish(&postgres_admin_url()) {
        Ok(_) => true,
        Err(error) => {
            if std::env::var("AUTHD_TEST_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("AUTHD_TEST_REQUIRE_POSTGRES=1 but PostgreSQL is unreachable: {error}");
            }
            eprintln!(
                "SKIPPING PostgreSQL tests: no server at {} ({error}); set AUTHD_TEST_POSTGRES_URL",
                postgres_admin_url()
            );
            false
        }
    })
}

pub fn redis_url() -> String {
    std::env::var("AUTHD_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Whether Redis tests can run; like `postgres_available`, with AUTHD_TEST_REQUIRE_REDIS=1.
pub fn redis_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let ping = redis::Client::open(redis_url()).and_then(|client| {
            let mut conn = client.get_connection_with_timeout(std::time::Duration::from_secs(2))?;
            redis::cmd("PING").query::<String>(&mut conn)
        });
        match ping {
            Ok(_) => true,
            Err(error) => {
                if std::env::var("AUTHD_TEST_REQUIRE_REDIS").as_deref() == Ok("1") {
                    panic!("AUTHD_TEST_REQUIRE_REDIS=1 but Redis is unreachable: {error}");
                }
                eprintln!(
                    "SKIPPING Redis tests: no server at {} ({error}); set AUTHD_TEST_REDIS_URL",
                    redis_url()
                );
                false
            }
        }
    })
}
