//! API keys for scripts and machine clients: `authd_<prefix>_<secret>`, shown once. authd
//! keeps the prefix, to find the row, and the SHA-256 of the whole key: the secret has 256
//! random bits, so a fast hash is enough, and the comparison is constant-time. A key acts as
//! its user within its scopes. Lookups are cached for `api_keys.cache_secs` per replica
//! (unknown prefixes too, so a flood of made-up keys costs no queries), which is how long a
//! revocation made on another replica may take to be seen.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use secrecy::SecretString;
use sha2::{Digest, Sha256};

use crate::db::api_keys::ApiKey;
use crate::db::users::User;

pub const KEY_START: &str = "authd_";
const PREFIX_CHARS: usize = 12;
const PREFIX_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// `lastUsedAt` is written at most this often per key (not on every request).
pub const TOUCH_EVERY_SECS: i64 = 60;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Read its user: `GET /api/auth/me`.
    ReadMe,
    /// The admin API, if its user is staff.
    Admin,
    /// The revocation feed and introspection, as an internal service.
    Services,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::ReadMe, Scope::Admin, Scope::Services];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ReadMe => "read:me",
            Scope::Admin => "admin",
            Scope::Services => "services",
        }
    }

    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// Scopes stored as one space-separated string; unknown names are dropped.
pub fn scopes_of(stored: &str) -> Vec<Scope> {
    stored.split(' ').filter_map(Scope::parse).collect()
}

/// A key made now: the whole key (to show once), its prefix and its hash.
pub struct NewKey {
    pub key: SecretString,
    pub prefix: String,
    pub sha256: String,
}

pub fn generate() -> NewKey {
    let mut rng = rand::rngs::OsRng;
    let prefix: String = (0..PREFIX_CHARS)
        .map(|_| {
            let i = (rng.next_u32() as usize) % PREFIX_ALPHABET.len();
            PREFIX_ALPHABET[i] as char
        })
        .collect();
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut secret);
    let key = format!("{KEY_START}{prefix}_{}", URL_SAFE_NO_PAD.encode(secret));
    NewKey {
        sha256: sha256_hex(&key),
        key: SecretString::from(key),
        prefix,
    }
}

/// The prefix of something shaped like an API key (not a service secret, `authd_svc_...`).
pub fn prefix_of(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(KEY_START)?;
    let (prefix, secret) = rest.split_at_checked(PREFIX_CHARS)?;
    let well_formed = prefix.bytes().all(|b| PREFIX_ALPHABET.contains(&b))
        && secret.len() == 44
        && secret.starts_with('_');
    well_formed.then_some(prefix)
}

pub fn sha256_hex(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `presented` hashes to `stored_hex`, in constant time.
pub fn matches(stored_hex: &str, presented: &str) -> bool {
    let computed = sha256_hex(presented);
    stored_hex.len() == computed.len()
        && stored_hex
            .bytes()
            .zip(computed.bytes())
            .fold(0u8, |d, (a, b)| d | (a ^ b))
            == 0
}

/// A key as read from the database, with its user, and when it was last marked used.
pub struct CachedKey {
    pub key: ApiKey,
    pub user: User,
    last_touched: AtomicI64,
}

impl CachedKey {
    pub fn new(key: ApiKey, user: User) -> Self {
        let touched = key.last_used_at.map_or(0, |t| t.and_utc().timestamp());
        Self {
            key,
            user,
            last_touched: AtomicI64::new(touched),
        }
    }

    /// Whether this use should be written as `lastUsedAt` (at most once a minute; of
    /// concurrent uses, one).
    pub fn claim_touch(&self, now: i64) -> bool {
        let last = self.last_touched.load(Ordering::Relaxed);
        now - last >= TOUCH_EVERY_SECS
            && self
                .last_touched
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// prefix → the key, or `None` for a prefix that matches no key.
pub type KeyCache = moka::future::Cache<String, Option<Arc<CachedKey>>>;

pub fn key_cache(ttl: Duration) -> KeyCache {
    moka::future::Cache::builder()
        .time_to_live(ttl)
        .max_capacity(100_000)
        .build()
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn a_new_key_is_recognised_by_its_shape_and_hash() {
        let made = generate();
        let key = made.key.expose_secret();
        assert_eq!(prefix_of(key), Some(made.prefix.as_str()));
        assert!(matches(&made.sha256, key));
        assert!(!matches(
            &made.sha256,
            &key.replace(&made.prefix, "aaaaaaaaaaaa")
        ));
        assert_eq!(prefix_of("authd_svc_abc"), None);
        assert_eq!(prefix_of("eyJhbGciOi.x.y"), None);
        assert_eq!(
            scopes_of("read:me admin bogus"),
            vec![Scope::ReadMe, Scope::Admin]
        );
    }
}
