//! Internal services' credentials: a random bearer secret per service, of which authd keeps
//! only the SHA-256. A secret has 256 random bits, so a fast hash is enough (no one can guess
//! one to match), and comparing against every known hash in constant time leaks neither which
//! service nor how much of a hash matched.

use std::collections::BTreeMap;
use std::future::{ready, Ready};

use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use secrecy::SecretString;
use sha2::{Digest, Sha256};

use super::extractor::parse_bearer;
use crate::config::ServiceSettings;
use crate::errors::ApiError;

/// Every service secret starts with this, so a leaked one is recognisable (secret scanners).
pub const TOKEN_PREFIX: &str = "authd_svc_";

#[derive(Default)]
pub struct ServiceCredentials {
    known: Vec<(String, [u8; 32])>,
}

impl std::fmt::Debug for ServiceCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.known.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("ServiceCredentials")
            .field("services", &names)
            .finish()
    }
}

impl ServiceCredentials {
    /// Refuses a hash that is not 64 hex digits, and one hash given to two services (their
    /// calls could not be told apart).
    pub fn from_settings(services: &BTreeMap<String, ServiceSettings>) -> Result<Self, String> {
        let mut known: Vec<(String, [u8; 32])> = Vec::new();
        for (name, service) in services {
            let hash = parse_sha256(&service.token_sha256).ok_or_else(|| {
                format!("services.{name}.token_sha256 must be 64 hex digits (a SHA-256)")
            })?;
            if let Some((other, _)) = known.iter().find(|(_, h)| *h == hash) {
                return Err(format!(
                    "services.{name} and services.{other} have the same token_sha256"
                ));
            }
            known.push((name.clone(), hash));
        }
        Ok(Self { known })
    }

    /// The service whose secret this is.
    pub fn authenticate(&self, presented: &str) -> Option<&str> {
        let hash: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for (name, known) in &self.known {
            let difference = known.iter().zip(&hash).fold(0u8, |d, (a, b)| d | (a ^ b));
            if difference == 0 {
                found = Some(name.as_str());
            }
        }
        found
    }
}

fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// A new secret and the hex SHA-256 to put in the configuration.
pub fn new_token() -> (SecretString, String) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (SecretString::from(token), hash)
}

/// The internal service that sent the request, by its bearer secret.
#[derive(Debug, Clone)]
pub struct ServiceCaller {
    pub name: String,
}

impl FromRequest for ServiceCaller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(identify(req))
    }
}

fn identify(req: &HttpRequest) -> Result<ServiceCaller, ApiError> {
    let state = req
        .app_data::<web::Data<crate::state::AppState>>()
        .ok_or_else(|| ApiError::internal("AppState is not registered as app data"))?;
    if req.headers().get_all(AUTHORIZATION).nth(1).is_some() {
        return Err(ApiError::invalid_client(
            "more than one Authorization header",
        ));
    }
    let presented = parse_bearer(req.headers().get(AUTHORIZATION))?;
    match state.services.authenticate(presented) {
        Some(name) => Ok(ServiceCaller {
            name: name.to_owned(),
        }),
        None if state.services.known.is_empty() => Err(ApiError::invalid_client(
            "no service credentials are configured ([services.<name>])",
        )),
        None => Err(ApiError::invalid_client("not a known service credential")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_token_authenticates_as_its_service_only() {
        let (token, hash) = new_token();
        let (other, other_hash) = new_token();
        let settings = BTreeMap::from([
            ("billing".to_owned(), ServiceSettings { token_sha256: hash }),
            (
                "search".to_owned(),
                ServiceSettings {
                    token_sha256: other_hash.to_uppercase(),
                },
            ),
        ]);
        let credentials = ServiceCredentials::from_settings(&settings).unwrap();
        use secrecy::ExposeSecret;
        assert_eq!(
            credentials.authenticate(token.expose_secret()),
            Some("billing")
        );
        assert_eq!(
            credentials.authenticate(other.expose_secret()),
            Some("search")
        );
        assert_eq!(credentials.authenticate("authd_svc_guess"), None);
        assert!(!format!("{credentials:?}").contains(&settings["billing"].token_sha256));
    }

    #[test]
    fn malformed_and_shared_hashes_are_refused() {
        let one = |hash: &str| ServiceSettings {
            token_sha256: hash.to_owned(),
        };
        let short = BTreeMap::from([("a".to_owned(), one("abc"))]);
        assert!(ServiceCredentials::from_settings(&short)
            .unwrap_err()
            .contains("64 hex"));
        let (_, hash) = new_token();
        let shared = BTreeMap::from([("a".to_owned(), one(&hash)), ("b".to_owned(), one(&hash))]);
        assert!(ServiceCredentials::from_settings(&shared)
            .unwrap_err()
            .contains("same"));
    }
}
