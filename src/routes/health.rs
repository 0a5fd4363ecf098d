use actix_web::{web, HttpResponse};
use diesel::connection::SimpleConnection;
use diesel::RunQueryDsl;
use serde_json::json;

use crate::db::DbConnection;
use crate::errors::{ApiError, ApiResult};
use crate::state::{AppState, WithDb};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/healthz").route(web::get().to(healthz)))
        .service(super::resource("/readyz").route(web::get().to(readyz)));
}

/// Liveness: the process answers. Touches nothing else.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Readiness: the database answers, and can be written to. A server on a full disk, a
/// read-only file, or a PostgreSQL replica left behind by a fail-over answers reads but fails
/// every login; it must leave the balancer.
async fn readyz(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    state
        .db_write(|conn, _| writable(conn))
        .await
        .map_err(|error| {
            log::warn!(
                "readiness check failed: {}",
                error.details["reason"].as_str().unwrap_or(&error.message)
            );
            crate::errors::ApiError::database_unavailable()
        })?;
    Ok(HttpResponse::Ok().json(json!({ "status": "ready", "database": "ok" })))
}

fn writable(conn: &mut DbConnection) -> ApiResult<()> {
    let writable = match conn {
        // Taking the write lock is refused on a read-only database; nothing is written.
        DbConnection::Sqlite(sqlite) => {
            sqlite.batch_execute("BEGIN IMMEDIATE; ROLLBACK")?;
            true
        }
        DbConnection::Postgres(pg) => diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
            "NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off'",
        ))
        .get_result::<bool>(pg)?,
    };
    if writable {
        Ok(())
    } else {
        Err(ApiError::database_unavailable().with_reason("the database is read-only"))
    }
}
