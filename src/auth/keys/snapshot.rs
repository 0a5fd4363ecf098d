//! Every key at one moment: the configured ones and the database's, each on its timetable,
//! with the signers and the verifier they make. Built anew at each reload by `LiveKeys`.

use std::sync::Arc;

use jsonwebtoken::Algorithm;
use secrecy::SecretString;

use super::rotation::{self, schedule_of};
use super::schedule::{KeyState, Lifetimes, Schedule};
use super::sealed::KeyEncryptionKey;
use super::{
    key_pair_from_pem, parse_algorithm, refuse_duplicate_kid, verifying_key_from_public_pem,
};
use super::{KeyError, KeyRing, SigningKey, VerifyingKey};
use crate::auth::verifier::{self, TokenVerifier};
use crate::config::JwtSettings;
use crate::db::signing_keys::StoredSigningKey;
use crate::db::DbConnection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// `jwt.private_key[_file]` or `jwt.secret`.
    Configured,
    /// `jwt.verification_keys`: verify only, published for as long as they are configured.
    ConfiguredVerifyOnly,
    Database,
}

impl KeySource {
    pub fn as_str(self) -> &'static str {
        match self {
            KeySource::Configured => "config",
            KeySource::ConfiguredVerifyOnly => "config (verify only)",
            KeySource::Database => "database",
        }
    }
}

/// One key and where it stands.
#[derive(Clone)]
pub struct KeyView {
    pub key: VerifyingKey,
    pub source: KeySource,
    pub schedule: Schedule,
    pub state: KeyState,
}

/// Every key at one moment, and what signs and verifies with them.
pub struct Snapshot {
    pub keys: Vec<KeyView>,
    /// Newest activation first; `i64::MIN` for the configured key.
    pub(super) signers: Vec<(i64, Arc<SigningKey>)>,
    pub(super) verifier: Arc<TokenVerifier>,
    /// The kids the verifier has, to reuse it (and its cache of verified tokens) when a
    /// reload changed nothing.
    verifier_kids: Vec<String>,
}

/// Every key at `now`, the configured ones first. Needs no key-encryption key: for listing.
pub fn views(
    configured: &KeyRing,
    stored: &[StoredSigningKey],
    now: i64,
    lifetimes: Lifetimes,
) -> Result<Vec<KeyView>, KeyError> {
    // The configured key signed until the first database key took over.
    let handed_over_at = stored.iter().map(|k| rotation::unix(k.activates_at)).min();
    let mut views: Vec<KeyView> = Vec::new();
    for key in &configured.verifying {
        let is_signing_key = configured
            .signing
            .as_ref()
            .is_some_and(|signing| signing.kid == key.kid);
        let (source, retires_at) = if is_signing_key {
            (KeySource::Configured, handed_over_at)
        } else {
            (KeySource::ConfiguredVerifyOnly, None)
        };
        let schedule = Schedule {
            activates_at: None,
            retires_at,
        };
        let state = match (source, schedule.state(now, lifetimes)) {
            // A verification key neither signs nor retires.
            (KeySource::ConfiguredVerifyOnly, _) => KeyState::Verifying,
            (_, state) => state,
        };
        views.push(KeyView {
            key: key.clone(),
            source,
            schedule,
            state,
        });
    }
    for row in stored {
        refuse_duplicate_kid(views.iter().map(|v| v.key.kid.as_str()), &row.kid)?;
        let schedule = schedule_of(row);
        let state = schedule.state(now, lifetimes);
        let algorithm = parse_algorithm(&row.algorithm)?;
        views.push(KeyView {
            key: verifying_key_from_public_pem(&row.kid, algorithm, &row.public_key)?,
            source: KeySource::Database,
            schedule,
            state,
        });
    }
    Ok(views)
}

pub(super) fn build(
    configured: &KeyRing,
    kek: Option<&KeyEncryptionKey>,
    jwt: &JwtSettings,
    lifetimes: Lifetimes,
    stored: &[StoredSigningKey],
    now: i64,
    previous: Option<&Snapshot>,
) -> Result<Snapshot, KeyError> {
    let keys = views(configured, stored, now, lifetimes)?;
    let mut signers: Vec<(i64, Arc<SigningKey>)> = Vec::new();
    if let Some(signing) = &configured.signing {
        let still_signs = keys
            .iter()
            .any(|v| v.source == KeySource::Configured && v.state != KeyState::Expired);
        if still_signs {
            signers.push((i64::MIN, Arc::clone(signing)));
        }
    }
    for (row, view) in stored
        .iter()
        .zip(keys.iter().filter(|v| v.source == KeySource::Database))
    {
        if !matches!(view.state, KeyState::Pending | KeyState::Signing) {
            continue;
        }
        let activates_at = rotation::unix(row.activates_at);
        let reused = previous.and_then(|p| {
            p.signers
                .iter()
                .find(|(_, key)| key.kid == row.kid)
                .map(|(_, key)| Arc::clone(key))
        });
        let key = match reused {
            Some(key) => key,
            None => Arc::new(open_signing_key(kek, row, view.key.algorithm)?),
        };
        signers.push((activates_at, key));
    }
    signers.sort_by_key(|(activates_at, _)| std::cmp::Reverse(*activates_at));
    let verifying: Vec<&KeyView> = keys.iter().filter(|v| v.state.verifies()).collect();
    let verifier_kids: Vec<String> = verifying.iter().map(|v| v.key.kid.clone()).collect();
    let verifier = match previous {
        Some(previous) if previous.verifier_kids == verifier_kids => Arc::clone(&previous.verifier),
        _ => Arc::new(verifier::from_keys(verifying.iter().map(|v| &v.key), jwt)),
    };
    Ok(Snapshot {
        keys,
        signers,
        verifier,
        verifier_kids,
    })
}

fn open_signing_key(
    kek: Option<&KeyEncryptionKey>,
    row: &StoredSigningKey,
    algorithm: Algorithm,
) -> Result<SigningKey, KeyError> {
    let kek = kek.ok_or_else(|| {
        KeyError::Missing(format!(
            "the database key {} signs, but no key-encryption key is configured to open it \
             (jwt.key_encryption_key_file or jwt.key_encryption_key)",
            row.kid
        ))
    })?;
    let pem: SecretString = kek.open(&row.kid, &row.private_key_sealed)?;
    let (signing, _) = key_pair_from_pem(Some(&row.kid), algorithm, &pem)?;
    Ok(signing)
}

/// For `DbConnection` users that hold one already (the CLI).
pub fn stored_keys(conn: &mut DbConnection) -> Result<Vec<StoredSigningKey>, KeyError> {
    StoredSigningKey::all(conn).map_err(|e| KeyError::Database(e.to_string()))
}
