//! `GET /metrics`: the Prometheus text format. The state behind the gauges (the pool, the
//! hashing permits, the outbox, the signing key) is read here, at each scrape, rather than kept
//! up to date by every request.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse, ResponseError};

use crate::db::outbox::OutboxMessage;
use crate::errors::ApiError;
use crate::state::{AppState, WithDb};

pub const PATH: &str = "/metrics";
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource(PATH).route(web::get().to(metrics)));
}

/// With `metrics.port`, the listeners serve apart: the metrics listener (`port`) answers only
/// `/metrics`, and the main listener everything but `/metrics`. After path normalisation, so
/// `/metrics/` is `/metrics` on both.
pub async fn split_listeners<B: MessageBody + 'static>(
    port: u16,
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let on_metrics_listener = req.app_config().local_addr().port() == port;
    if on_metrics_listener != (req.path() == PATH) {
        let refused = ApiError::not_found().error_response();
        return Ok(req.into_response(refused).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    read_gauges(&state).await;
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(state.metrics.encode())
}

async fn read_gauges(state: &web::Data<AppState>) {
    let metrics = &state.metrics;
    let pool = state.pool.state();
    let idle = i64::from(pool.idle_connections);
    let open = i64::from(pool.connections);
    let connections = &metrics.db_pool_connections;
    connections.with_label_values(&["idle"]).set(idle);
    connections.with_label_values(&["in_use"]).set(open - idle);
    metrics
        .db_pool_max_connections
        .set(i64::from(state.pool.max_size()));
    metrics
        .password_hashes_running
        .set(i64::try_from(state.hasher.permits_in_use()).unwrap_or(i64::MAX));

    let now = chrono::Utc::now().timestamp();
    metrics.signing_key_age.reset();
    if let Some((kid, source, since)) = state.keys.signing_since(now) {
        metrics
            .signing_key_age
            .with_label_values(&[kid.as_str(), source.as_str()])
            .set((now - since) as f64);
    }

    // A database that does not answer leaves the outbox out of this scrape rather than
    // failing it: the other metrics matter most then.
    let outbox = &metrics.email_outbox_messages;
    outbox.reset();
    if state.mail.is_some() {
        let counted = state
            .db(|conn, _| Ok(OutboxMessage::count_undelivered(conn)?))
            .await;
        if let Ok((pending, failed)) = counted {
            outbox.with_label_values(&["pending"]).set(pending);
            outbox.with_label_values(&["failed"]).set(failed);
        }
    }
}
