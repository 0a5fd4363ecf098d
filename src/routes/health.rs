use actix_web::{web, HttpResponse};
use diesel::connection::SimpleConnection;
use serde_json::json;

use crate::errors::ApiResult;
use crate::state::{AppState, WithDb};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/healthz").route(web::get().to(healthz)))
        .service(super::resource("/readyz").route(web::get().to(readyz)));
}

/// Liveness: the process answers. Touches nothing else.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Readiness: the database answers a query.
async fn readyz(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    state
        .db(|conn, _| Ok(conn.batch_execute("SELECT 1")?))
        .await
        .map_err(|error| {
            log::warn!("readiness check failed: {}", error.message);
            crate::errors::ApiError::database_unavailable()
        })?;
    Ok(HttpResponse::Ok().json(json!({ "status": "ready", "database": "ok" })))
}
