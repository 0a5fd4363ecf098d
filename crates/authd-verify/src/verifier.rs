//! `TokenVerifier`: checks access and refresh tokens offline, against keys each pinned to one
//! algorithm, with the strict rules of RFC 7515 and RFC 8725.

use std::collections::HashMap;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::Validation;
use serde::de::DeserializeOwned;

use crate::claims::{
    AccessClaims, RefreshClaims, ACCESS_TOKEN_TYP, REFRESH_TOKEN_TYP, REFRESH_TOKEN_TYPE_CLAIM,
};
use crate::{unix_now, KeySet, VerifyError};

/// Checks tokens offline against a fixed set of keys, each pinned to its one algorithm.
pub struct TokenVerifier {
    keys: KeySet,
    issuer: String,
    audience: String,
    leeway_secs: u64,
    /// The longest access and refresh lifetimes (exp - iat) accepted, when known.
    max_lifetimes: Option<(i64, i64)>,
    verified: VerifiedCache,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("keys", &self.keys)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway_secs", &self.leeway_secs)
            .finish()
    }
}

/// The time claims every authd token has, for the checks jsonwebtoken does not make.
pub trait TimeClaims {
    fn issued_at(&self) -> i64;
    fn expires_at(&self) -> i64;
}

impl TimeClaims for AccessClaims {
    fn issued_at(&self) -> i64 {
        self.iat
    }
    fn expires_at(&self) -> i64 {
        self.exp
    }
}

impl TimeClaims for RefreshClaims {
    fn issued_at(&self) -> i64 {
        self.iat
    }
    fn expires_at(&self) -> i64 {
        self.exp
    }
}

/// Access tokens that passed every check, until their own `exp`. A SPA sends the same access
/// token for its whole lifetime, and a signature check (about 50 µs for Ed25519) costs several
/// times an HTTP request; a hit is one hash lookup. The key is the whole token, so a token
/// that differs in any byte is verified afresh. Bounded: when full, it starts over.
struct VerifiedCache {
    entries: std::sync::Mutex<HashMap<Box<str>, AccessClaims>>,
}

const VERIFIED_CACHE_CAPACITY: usize = 4096;

impl VerifiedCache {
    fn new() -> Self {
        Self {
            entries: std::sync::Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, token: &str) -> Option<AccessClaims> {
        self.entries.lock().ok()?.get(token).cloned()
    }

    fn put(&self, token: &str, claims: &AccessClaims) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= VERIFIED_CACHE_CAPACITY {
                entries.clear();
            }
            entries.insert(token.into(), claims.clone());
        }
    }
}

fn secs(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX / 4)
}

impl TokenVerifier {
    pub fn new(keys: KeySet, issuer: &str, audience: &str, leeway_secs: u64) -> Self {
        Self {
            keys,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            leeway_secs,
            max_lifetimes: None,
            verified: VerifiedCache::new(),
        }
    }

    /// For a resource server: the keys of a JWKS document (authd's `/.well-known/jwks.json`).
    pub fn from_jwks(jwks: &JwkSet, issuer: &str, audience: &str, leeway_secs: u64) -> Self {
        Self::new(KeySet::from_jwks(jwks), issuer, audience, leeway_secs)
    }

    /// Refuses tokens that claim to live longer (exp - iat, beyond the leeway) than these:
    /// authd never issues such a token, so one can only come from a misused key. A service that
    /// knows authd's `jwt.access_ttl_secs` and `jwt.refresh_ttl_secs` should set them.
    pub fn with_max_lifetimes(mut self, access_secs: u64, refresh_secs: u64) -> Self {
        self.max_lifetimes = Some((secs(access_secs), secs(refresh_secs)));
        self
    }

    /// The same checks with another key set (after a JWKS refetch).
    pub fn with_keys(&self, keys: KeySet) -> Self {
        Self {
            keys,
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            leeway_secs: self.leeway_secs,
            max_lifetimes: self.max_lifetimes,
            verified: VerifiedCache::new(),
        }
    }

    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    pub fn leeway_secs(&self) -> u64 {
        self.leeway_secs
    }

    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        if let Some(claims) = self.verified.get(token) {
            // The same expiry rule as jsonwebtoken's: expired once exp < now - leeway.
            return if claims.exp < unix_now().saturating_sub(secs(self.leeway_secs)) {
                Err(VerifyError::Expired)
            } else {
                Ok(claims)
            };
        }
        let claims: AccessClaims = self.verify(token, ACCESS_TOKEN_TYP, true)?;
        self.verified.put(token, &claims);
        Ok(claims)
    }

    /// `check_expiry` is off only where an expired token is harmless to accept (logout).
    pub fn verify_refresh(
        &self,
        token: &str,
        check_expiry: bool,
    ) -> Result<RefreshClaims, VerifyError> {
        let claims: RefreshClaims = self.verify(token, REFRESH_TOKEN_TYP, check_expiry)?;
        if claims.token_type != REFRESH_TOKEN_TYPE_CLAIM {
            return Err(VerifyError::WrongType {
                expected: "a refresh",
            });
        }
        Ok(claims)
    }

    fn verify<T: DeserializeOwned + TimeClaims>(
        &self,
        token: &str,
        typ: &'static str,
        check_expiry: bool,
    ) -> Result<T, VerifyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        // RFC 7515 §4.1.11: a recipient must refuse a token whose crit it does not understand,
        // and authd understands no extension (an empty list is invalid too).
        if header.crit.is_some() {
            return Err(VerifyError::UnsupportedCritical);
        }
        let (algorithm, key) = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.get(kid))
            .ok_or(VerifyError::UnknownKey)?;
        // The algorithm comes from our key, never from the token: no `none`, and no HS256
        // "signed" with a public key.
        if header.alg != *algorithm {
            return Err(VerifyError::AlgorithmNotAllowed);
        }
        let typ_matches = header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case(typ) || t.eq_ignore_ascii_case(&format!("application/{typ}"))
        });
        if !typ_matches {
            return Err(VerifyError::WrongType {
                expected: if typ == ACCESS_TOKEN_TYP {
                    "an access"
                } else {
                    "a refresh"
                },
            });
        }
        let mut validation = Validation::new(*algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = self.leeway_secs;
        validation.validate_exp = check_expiry;
        validation.validate_nbf = true;
        let data =
            jsonwebtoken::decode::<T>(token, key, &validation).map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => VerifyError::Expired,
                ErrorKind::ImmatureSignature => VerifyError::NotYetValid,
                ErrorKind::InvalidSignature => VerifyError::BadSignature,
                ErrorKind::InvalidIssuer => VerifyError::WrongIssuer,
                ErrorKind::InvalidAudience => VerifyError::WrongAudience,
                ErrorKind::InvalidAlgorithm => VerifyError::AlgorithmNotAllowed,
                ErrorKind::MissingRequiredClaim(claim) | ErrorKind::InvalidClaimFormat(claim) => {
                    VerifyError::BadClaims(claim.clone())
                }
                ErrorKind::Json(_) => VerifyError::BadClaims("claims".into()),
                _ => VerifyError::Malformed,
            })?;
        self.check_times(&data.claims, typ)?;
        Ok(data.claims)
    }

    fn check_times(&self, claims: &impl TimeClaims, typ: &str) -> Result<(), VerifyError> {
        let leeway = secs(self.leeway_secs);
        if claims.issued_at() > unix_now().saturating_add(leeway) {
            return Err(VerifyError::IssuedInFuture);
        }
        if let Some((access, refresh)) = self.max_lifetimes {
            let max = if typ == ACCESS_TOKEN_TYP {
                access
            } else {
                refresh
            };
            let lifetime = claims.expires_at().saturating_sub(claims.issued_at());
            if lifetime > max.saturating_add(leeway) {
                return Err(VerifyError::LifetimeTooLong);
            }
        }
        Ok(())
    }
}
