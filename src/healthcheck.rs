//! `authd healthcheck`: asks a running authd whether it is ready, for container health checks
//! in images that have no curl. Exit status 0 means ready.

use std::time::Duration;

use crate::config::ServerSettings;

/// A probe that hangs is as bad as a failed one; an orchestrator's own timeout would only
/// report it later and less clearly.
const TIMEOUT: Duration = Duration::from_secs(5);

/// `http://127.0.0.1:PORT/readyz` for a server bound to a wildcard or loopback address (the
/// container case); a server bound to one specific address is asked there.
pub fn default_url(server: &ServerSettings) -> String {
    let host = match server.host.as_str() {
        "" | "0.0.0.0" | "::" | "[::]" | "localhost" | "127.0.0.1" => "127.0.0.1".to_owned(),
        host if host.contains(':') && !host.starts_with('[') => format!("[{host}]"),
        host => host.to_owned(),
    };
    format!("http://{host}:{}/readyz", server.port)
}

/// Ok with a one-line summary when the URL answers 2xx within the timeout; Err with the reason
/// otherwise. Redirects are not followed: a readiness endpoint that redirects is misconfigured.
pub async fn probe(url: &str) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("{url}: {}", describe(e)))?;
    let status = response.status();
    // A body is only for the message; a huge or slow one must not hold the probe up.
    let body = response.text().await.unwrap_or_default();
    let summary: String = body.chars().take(200).collect();
    if status.is_success() {
        Ok(format!("{url}: {status} {summary}"))
    } else {
        Err(format!("{url}: {status} {summary}"))
    }
}

fn describe(error: reqwest::Error) -> String {
    if error.is_timeout() {
        format!("no answer within {} s", TIMEOUT.as_secs())
    } else if error.is_connect() {
        "connection refused or unreachable".to_owned()
    } else {
        error.without_url().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(host: &str, port: u16) -> ServerSettings {
        ServerSettings {
            host: host.into(),
            port,
            workers: 0,
            shutdown_timeout_secs: 5,
            trusted_proxies: vec![],
            body_timeout_secs: 10,
            max_connections: 1000,
            max_concurrent_requests_per_ip: 64,
        }
    }

    #[test]
    fn the_default_url_asks_loopback_unless_bound_to_one_address() {
        assert_eq!(
            default_url(&server("0.0.0.0", 8000)),
            "http://127.0.0.1:8000/readyz"
        );
        assert_eq!(
            default_url(&server("127.0.0.1", 9)),
            "http://127.0.0.1:9/readyz"
        );
        assert_eq!(
            default_url(&server("::", 8000)),
            "http://127.0.0.1:8000/readyz"
        );
        assert_eq!(
            default_url(&server("10.1.2.3", 80)),
            "http://10.1.2.3:80/readyz"
        );
        assert_eq!(
            default_url(&server("fd00::1", 80)),
            "http://[fd00::1]:80/readyz"
        );
    }
}
