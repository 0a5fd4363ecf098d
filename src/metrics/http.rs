//! Requests by route, method and status. The route is the pattern a request matched
//! (`/api/auth/sessions/{id}`), never its path, so the number of series stays bounded: a
//! scanner's made-up paths all count as `unmatched`.

use std::cell::RefCell;

use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts};

/// The label of requests that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// Seconds. Most requests take well under a millisecond; logins take tens of milliseconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

#[derive(Clone)]
pub struct HttpMetrics {
    pub(super) requests: IntCounterVec,
    pub(super) duration: HistogramVec,
}

impl HttpMetrics {
    pub(super) fn new() -> Self {
        let labels = &["route", "method", "status"];
        Self {
            requests: IntCounterVec::new(
                Opts::new(
                    "authd_http_requests_total",
                    "HTTP requests answered, by route pattern, method and status.",
                ),
                labels,
            )
            .expect("valid metric"),
            duration: HistogramVec::new(
                HistogramOpts::new(
                    "authd_http_request_duration_seconds",
                    "Time from a request's arrival until its response was ready, by route \
                     pattern, method and status.",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                labels,
            )
            .expect("valid metric"),
        }
    }

    /// Counts a request of a route that has no `RouteMetrics` (or none: `UNMATCHED`). Slower:
    /// the labels are looked up each time.
    pub fn observe(&self, route: &str, method: &str, status: &str, seconds: f64) {
        let labels = [route, method_label(method), status];
        self.requests.with_label_values(&labels).inc();
        self.duration.with_label_values(&labels).observe(seconds);
    }
}

/// The handles of one route, per method and status seen so far. Kept in the route's resource,
/// which each worker thread builds for itself, so finding them takes no lock, no hashing and
/// no allocation; the first request of each method and status looks them up once.
pub struct RouteMetrics {
    route: Box<str>,
    seen: RefCell<Vec<Handles>>,
}

struct Handles {
    method: &'static str,
    status: u16,
    requests: IntCounter,
    duration: Histogram,
}

impl RouteMetrics {
    pub fn new(route: &str) -> Self {
        Self {
            route: route.into(),
            seen: RefCell::new(Vec::new()),
        }
    }

    pub fn route(&self) -> &str {
        &self.route
    }

    /// `status` is the code, `status_text` the same as text (what `http::StatusCode` has).
    pub fn observe(
        &self,
        http: &HttpMetrics,
        method: &str,
        (status, status_text): (u16, &str),
        seconds: f64,
    ) {
        let method = method_label(method);
        let mut seen = self.seen.borrow_mut();
        let index = match seen
            .iter()
            .position(|h| h.status == status && h.method == method)
        {
            Some(index) => index,
            None => {
                let labels = [&*self.route, method, status_text];
                seen.push(Handles {
                    method,
                    status,
                    requests: http.requests.with_label_values(&labels),
                    duration: http.duration.with_label_values(&labels),
                });
                seen.len() - 1
            }
        };
        let handles = &seen[index];
        handles.requests.inc();
        handles.duration.observe(seconds);
    }
}

/// Methods outside the standard ones share one label, so a client cannot add series.
fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 7] = ["GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS"];
    KNOWN
        .into_iter()
        .find(|known| *known == method)
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("BREW"), "other");
    }

    #[test]
    fn a_route_counts_each_method_and_status_apart() {
        let http = HttpMetrics::new();
        let route = RouteMetrics::new("/api/auth/sessions/{id}");
        route.observe(&http, "GET", (200, "200"), 0.001);
        route.observe(&http, "GET", (200, "200"), 0.002);
        route.observe(&http, "DELETE", (204, "204"), 0.001);
        let count = |method, status| {
            http.requests
                .with_label_values(&["/api/auth/sessions/{id}", method, status])
                .get()
        };
        assert_eq!((count("GET", "200"), count("DELETE", "204")), (2, 1));
        assert_eq!(route.seen.borrow().len(), 2);
    }
}
