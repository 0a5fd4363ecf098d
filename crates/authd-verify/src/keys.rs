//! Verification keys, each pinned to the one algorithm it may verify.

use std::collections::HashMap;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey};

/// The algorithms authd signs with. Anything else (`none`, HS384 ...) never verifies.
pub const SUPPORTED_ALGORITHMS: [Algorithm; 4] = [
    Algorithm::EdDSA,
    Algorithm::ES256,
    Algorithm::RS256,
    Algorithm::HS256,
];

/// kid → (algorithm, key).
#[derive(Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, (Algorithm, DecodingKey)>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<&String> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("KeySet").field("kids", &kids).finish()
    }
}

impl KeySet {
    /// Keys of unsupported algorithms are left out.
    pub fn new(keys: impl IntoIterator<Item = (String, Algorithm, DecodingKey)>) -> Self {
        Self {
            keys: keys
                .into_iter()
                .filter(|(_, alg, _)| SUPPORTED_ALGORITHMS.contains(alg))
                .map(|(kid, alg, key)| (kid, (alg, key)))
                .collect(),
        }
    }

    /// The keys of a JWKS document (authd's `/.well-known/jwks.json`). Keys without `kid` or
    /// `alg` are skipped: a key must be pinned to one algorithm.
    pub fn from_jwks(jwks: &JwkSet) -> Self {
        Self::new(jwks.keys.iter().filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            let alg = jwk.common.key_algorithm?.to_string().parse().ok()?;
            let key = DecodingKey::from_jwk(jwk).ok()?;
            Some((kid, alg, key))
        }))
    }

    pub fn get(&self, kid: &str) -> Option<&(Algorithm, DecodingKey)> {
        self.keys.get(kid)
    }

    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
