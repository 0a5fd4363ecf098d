//! HTTP routes, one file per resource. A trailing slash is optional everywhere (see
//! `normalize`), so Django-era clients work unchanged.

pub mod access;
pub mod admin;
pub mod api_keys;
pub mod audit;
pub mod client_ip;
pub mod email;
pub mod headers;
pub mod health;
pub mod identities;
pub mod json;
pub mod me;
pub mod metrics;
pub mod normalize;
pub mod oidc;
pub mod pagination;
pub mod password;
pub mod principal;
pub mod reauth;
pub mod register;
pub mod responses;
pub mod services;
pub mod sessions;
pub mod tokens;
pub mod well_known;

use actix_web::{web, HttpResponse};

use crate::errors::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    health::configure(cfg);
    well_known::configure(cfg);
    register::configure(cfg);
    tokens::configure(cfg);
    me::configure(cfg);
    password::configure(cfg);
    oidc::configure(cfg);
    identities::configure(cfg);
    sessions::configure(cfg);
    services::configure(cfg);
    email::configure(cfg);
    admin::configure(cfg);
    api_keys::configure(cfg);
    audit::configure(cfg);
}

/// A resource at one path that answers other methods with a JSON 405, and counts its requests
/// under its path as the route label of the metrics (`access`).
///
/// One path per resource, because the router tries the resources in order for every request:
/// a single static path is matched by comparing strings, while a resource built from a list of
/// paths is matched by running a regex per path (it cost authd's bearer route about a tenth
/// of its CPU before it was split).
pub fn resource(path: &str) -> actix_web::Resource {
    web::resource(path)
        .app_data(crate::metrics::RouteMetrics::new(path))
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(ApiError::method_not_allowed())
        }))
}

/// The same routes at several paths (aliases, such as the Django-era paths), one resource each.
pub fn aliases(
    cfg: &mut web::ServiceConfig,
    paths: &[&str],
    routes: impl Fn(actix_web::Resource) -> actix_web::Resource,
) {
    for path in paths {
        cfg.service(routes(resource(path)));
    }
}

pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found())
}
