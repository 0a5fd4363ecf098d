//! Checking tokens: authd-verify's `TokenVerifier` (`crates/authd-verify`), the same code
//! resource servers run. authd adds its own keys and the mapping of each refusal to its error
//! body.

pub use authd_verify::{TimeClaims, TokenVerifier, VerifyError as TokenError};

use super::keys::VerifyingKey;
use crate::config::JwtSettings;
use crate::errors::ApiError;

impl From<TokenError> for ApiError {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::Expired => ApiError::token_expired(),
            TokenError::Revoked(reason) => ApiError::token_revoked(reason),
            other => ApiError::token_invalid(other.to_string()),
        }
    }
}

/// authd's own verifier over `keys`. Lowering a TTL therefore also ends the tokens issued
/// with the longer one.
pub fn from_keys<'a>(
    keys: impl IntoIterator<Item = &'a VerifyingKey>,
    jwt: &JwtSettings,
) -> TokenVerifier {
    TokenVerifier::new(
        authd_verify::KeySet::new(
            keys.into_iter()
                .map(|k| (k.kid.clone(), k.algorithm, k.decoding.clone())),
        ),
        &jwt.issuer,
        &jwt.audience,
        jwt.leeway_secs,
    )
    .with_max_lifetimes(jwt.access_ttl_secs, jwt.refresh_ttl_secs)
}
