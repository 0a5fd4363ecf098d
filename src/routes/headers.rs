//! Headers every response carries. Responses hold tokens and personal data, so nothing may be
//! cached unless a route says otherwise (the JWKS and discovery documents do): RFC 6749 §5.1
//! requires `no-store` on token responses, and `Pragma` covers HTTP/1.0 caches.

use actix_web::dev::ServiceResponse;
use actix_web::http::header::{self, HeaderValue};

pub fn add_default_headers<B>(response: &mut ServiceResponse<B>) {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    }
}
