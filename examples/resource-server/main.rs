//! A small API protected by authd-verify: what an internal service behind the SPA looks like.
//!
//!   AUTHD_URL=http://127.0.0.1:8000 cargo run -p authd-verify --features actix,remote \
//!     --example resource-server
//!
//! Environment: `AUTHD_URL` (where authd answers), `AUTHD_ISSUER` (authd's `jwt.issuer`;
//! default `AUTHD_URL`), `AUTHD_AUDIENCE` (default `authd`), `AUTHD_SERVICE_SECRET` (from
//! `authd services new-token`; turns on the revocation feed), `REVOCATION_POLL_SECS` (2),
//! `JWKS_REFETCH_SECS` (10), `PORT` (8081; 0 picks a free one).

use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use authd_verify::actix::{Authenticated, RequiredScope, Scoped, Staff};
use authd_verify::RemoteVerifier;
use serde_json::json;

async fn orders(Authenticated(claims): Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "userId": claims.sub, "sessionId": claims.sid, "orders": [] }))
}

async fn report(Staff(claims): Staff) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "requestedBy": claims.sub }))
}

struct ExportOrders;

impl RequiredScope for ExportOrders {
    const SCOPE: &'static str = "orders:export";
}

async fn export(Scoped(claims, _): Scoped<ExportOrders>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "exportFor": claims.sub }))
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn secs(name: &str, default: u64) -> Duration {
    Duration::from_secs(env_or(name, "").parse().unwrap_or(default))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    env_logger::init();
    let authd = env_or("AUTHD_URL", "http://127.0.0.1:8000");
    let issuer = env_or("AUTHD_ISSUER", &authd);
    let mut builder = RemoteVerifier::builder(&issuer)
        .authd_url(&authd)
        .audience(&env_or("AUTHD_AUDIENCE", "authd"))
        .refetch_interval(secs("JWKS_REFETCH_SECS", 10));
    if let Ok(secret) = std::env::var("AUTHD_SERVICE_SECRET") {
        builder = builder.poll_revocations(&secret, secs("REVOCATION_POLL_SECS", 2));
    }
    let verifier = builder
        .build()
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let verifier = web::Data::new(verifier);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(verifier.clone())
            .route("/api/orders", web::get().to(orders))
            .route("/api/admin/report", web::get().to(report))
            .route("/api/orders/export", web::get().to(export))
    })
    .workers(1)
    .bind(("127.0.0.1", env_or("PORT", "8081").parse().unwrap_or(8081)))?;
    let address = server.addrs()[0];
    println!("resource-server listening on http://{address}");
    server.run().await
}
