//! HTTP routes, one file per resource. A trailing slash is optional everywhere (the
//! NormalizePath middleware in startup trims it), so Django-era clients work unchanged.

pub mod health;
pub mod identities;
pub mod json;
pub mod me;
pub mod oidc;
pub mod password;
pub mod register;
pub mod responses;
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
}

/// A resource at one or more paths (aliases) that answers other methods with a JSON 405.
pub fn resource(paths: &[&str]) -> actix_web::Resource {
    let paths: Vec<String> = paths.iter().map(|p| (*p).to_owned()).collect();
    web::resource(paths).default_service(web::to(|| async {
        Err::<HttpResponse, _>(ApiError::method_not_allowed())
    }))
}

pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found())
}
