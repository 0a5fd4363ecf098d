//! Verify authd's access tokens in a resource server, offline.
//!
//! - [`TokenVerifier`]: the checks, against keys each pinned to one algorithm (RFC 8725):
//!   header `typ` (`at+jwt` for access tokens, so a refresh token cannot pass), `iss`, `aud`,
//!   `exp`/`nbf` with leeway, `iat` not in the future, no `crit`. authd itself checks its
//!   tokens with it, so there is one implementation.
//! - [`RemoteVerifier`] (feature `remote`): builds the key set from authd's discovery or JWKS
//!   URL, refetches on an unknown `kid` at most once per `refetch_interval` (so a flood of
//!   made-up kids costs nothing), keeps serving from the cache while authd is down, and can
//!   poll authd's revocation feed so a revoked session is refused within the poll interval.
//! - [`actix`] (feature `actix`): an extractor giving the handler the claims, and one that also
//!   requires `isStaff`; refusals carry authd's error body and `WWW-Authenticate` header.

mod bearer;
mod claims;
mod error;
mod keys;
mod verifier;

#[cfg(feature = "actix")]
pub mod actix;
#[cfg(feature = "remote")]
mod remote;
#[cfg(feature = "remote")]
mod revocations;

pub use bearer::{bearer_challenge, parse_bearer, BearerError};
pub use claims::{
    AccessClaims, RefreshClaims, ACCESS_TOKEN_TYP, REFRESH_TOKEN_TYP, REFRESH_TOKEN_TYPE_CLAIM,
};
pub use error::VerifyError;
pub use keys::{KeySet, SUPPORTED_ALGORITHMS};
pub use verifier::{TimeClaims, TokenVerifier};

#[cfg(feature = "remote")]
pub use remote::{RemoteVerifier, RemoteVerifierBuilder};
/// The name the verifier has in authd's documentation: `Verifier::from_discovery(issuer)`.
#[cfg(feature = "remote")]
pub type Verifier = RemoteVerifier;
#[cfg(feature = "remote")]
pub use revocations::RevocationFeed;

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
