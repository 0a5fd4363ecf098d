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

/// RFC 7517 key set. Public keys only: an HS256 secret is never published. A key made a moment
/// ago by `authd keys rotate` (another process) is here at once: the keys are read again for
/// the request (one small query; concurrent requests share one read, so a flood of them
/// keeps one query running at a time). With the database down, after a second, the keys in
/// memory are served.
async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    state
        .keys
        .reload_fresh(std::time::Duration::from_secs(1))
        .await;
    HttpResponse::Ok()
        .insert_header(cacheable(&state))
        .json(state.keys.jwks(chrono::Utc::now().timestamp()))
}

async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(cacheable(&state))
        .json(&state.openid_configuration)
}

/// `jwt.jwks_max_age_secs`: how long a service may keep the keys before asking again.
fn cacheable(state: &AppState) -> (&'static str, String) {
    (
        "Cache-Control",
        format!("public, max-age={}", state.jwks_max_age_secs),
    )
}

/// What a resource server needs to configure itself, and nothing authd does not serve. authd
/// is not an OAuth authorization server or OpenID provider: it has no authorization or OAuth
/// token endpoint, no `password` grant in the OAuth sense (its login takes JSON) and issues
/// no ID tokens, so none of those are advertised. URLs are built from the issuer, which must
/// therefore be authd's public base URL.
pub fn discovery_document(jwt: &JwtSettings, algorithms: &[String]) -> Value {
    let base = jwt.issuer.trim_end_matches('/');
    json!({
        "issuer": jwt.issuer,
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        // RFC 7662, for services with a credential in `[services.<name>]`.
        "introspection_endpoint": format!("{base}/api/auth/introspect"),
        "subject_types_supported": ["public"],
        // Not a registered name (no registry has one for access tokens): the algorithms that
        // sign authd's access tokens, to pin in a verifier.
        "access_token_signing_alg_values_supported": algorithms,
        "claims_supported": ["iss", "aud", "sub", "exp", "iat", "jti", "sid", "client_id", "email", "isStaff"],
    })
}
