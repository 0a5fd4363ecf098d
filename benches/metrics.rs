//! What counting one request costs the server: the two clock readings and the update of the
//! route's counter and histogram, alone, and while a second thread counts the same route (two
//! workers on two cores, whose atomic updates then share cache lines).
//! `cargo bench --bench metrics`; bench/metrics.py runs it and puts the figures in
//! bench/METRICS.md.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use authd::metrics::{HttpMetrics, Metrics, RouteMetrics};
use criterion::{criterion_group, criterion_main, Criterion};

const ROUTE: &str = "/api/auth/me";

fn count(route: &RouteMetrics, http: &HttpMetrics) {
    let started = Instant::now();
    let seconds = started.elapsed().as_secs_f64();
    route.observe(http, "GET", (200, "200"), std::hint::black_box(seconds));
}

fn count_requests(c: &mut Criterion) {
    let metrics = Metrics::new();
    let route = RouteMetrics::new(ROUTE);
    c.bench_function("metrics/count_request", |b| {
        b.iter(|| count(&route, &metrics.http))
    });
    c.bench_function("metrics/count_request_beside_another_thread", |b| {
        b.iter_custom(|iterations| {
            let stop = AtomicBool::new(false);
            std::thread::scope(|scope| {
                scope.spawn(|| {
                    // A worker of its own builds its own route handles, over the same families.
                    let other = RouteMetrics::new(ROUTE);
                    while !stop.load(Ordering::Relaxed) {
                        count(&other, &metrics.http);
                    }
                });
                let started = Instant::now();
                for _ in 0..iterations {
                    count(&route, &metrics.http);
                }
                let elapsed: Duration = started.elapsed();
                stop.store(true, Ordering::Relaxed);
                elapsed
            })
        })
    });
}

criterion_group!(benches, count_requests);
criterion_main!(benches);
