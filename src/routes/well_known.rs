use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use crate::config::JwtSettings;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/.well-known/jwks.json").route(web::get().to(jwks)))
        .service(
            super::resource("/.well-known/openid-configuration")
                .route(web::get().to(openid_configuration)),
        );
}

/// RFC 7517 key set. Public keys only: an HS256 secret is never published.
async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(&state.jwks)
}

async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(&state.openid_configuration)
}

/// Enough discovery metadata for a resource server's JWT middleware to configure itself.
/// URLs are built from the issuer, which must therefore be authd's public base URL.
pub fn discovery_document(jwt: &JwtSettings, algorithms: &[String]) -> Value {
    let base = jwt.issuer.trim_end_matches('/');
    json!({
        "issuer": jwt.issuer,
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "token_endpoint": format!("{base}/api/auth/login"),
        "userinfo_endpoint": format!("{base}/api/auth/me"),
        "grant_types_supported": ["password", "refresh_token"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "token_endpoint_auth_methods_supported": ["none"],
        "id_token_signing_alg_values_supported": algorithms,
        "token_endpoint_auth_signing_alg_values_supported": algorithms,
        "claims_supported": ["iss", "aud", "sub", "exp", "iat", "jti", "sid", "client_id", "email", "isStaff"],
    })
}
