//! Rotation: a new database key, published now and signing after the pre-publish time, with
//! the current key retiring at that moment. Used by `authd keys rotate` and by the replicas'
//! automatic rotation; the database lock makes concurrent rotations take turns, and each
//! decides again under the lock, so of replicas that found rotation due one rotates.

use chrono::NaiveDateTime;
use diesel::Connection as _;
use jsonwebtoken::Algorithm;

use super::schedule::{rotation_due, Schedule};
use super::sealed::KeyEncryptionKey;
use super::{
    generate_private_key, key_pair_from_pem, parse_algorithm, public_key_pem, refuse_duplicate_kid,
    KeyError, KeyRing,
};
use crate::config::JwtSettings;
use crate::db::signing_keys::StoredSigningKey;
use crate::db::DbConnection;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trigger {
    /// `authd keys rotate`: refused while a key waits to sign.
    Manual,
    /// A replica's schedule: nothing happens unless rotation is due.
    Every { secs: i64 },
}

/// What a rotation made.
#[derive(Debug, Clone)]
pub struct Rotated {
    pub kid: String,
    pub algorithm: Algorithm,
    pub activates_at: NaiveDateTime,
    /// The keys that stop signing at `activates_at`.
    pub retiring: Vec<String>,
}

pub fn unix(time: NaiveDateTime) -> i64 {
    time.and_utc().timestamp()
}

pub fn schedule_of(key: &StoredSigningKey) -> Schedule {
    Schedule {
        activates_at: Some(unix(key.activates_at)),
        retires_at: key.retires_at.map(unix),
    }
}

/// Rotates if `trigger` says so. `Ok(None)`: automatic rotation was not due.
pub fn rotate(
    conn: &mut DbConnection,
    jwt: &JwtSettings,
    configured: &KeyRing,
    kek: &KeyEncryptionKey,
    now: NaiveDateTime,
    trigger: Trigger,
) -> Result<Option<Rotated>, KeyError> {
    let algorithm = parse_algorithm(&jwt.algorithm)?;
    if algorithm == Algorithm::HS256 {
        return Err(KeyError::Database(
            "database keys are asymmetric: set jwt.algorithm to EdDSA, ES256 or RS256 \
             (an HS256 secret cannot be published ahead of signing)"
                .into(),
        ));
    }
    let rotated = conn.transaction(|conn| {
        StoredSigningKey::lock_for_rotation(conn)?;
        let stored = StoredSigningKey::all(conn)?;
        match decide(&stored, configured, jwt, now, trigger)? {
            Some(activates_at) => {
                create(conn, &stored, configured, kek, algorithm, now, activates_at).map(Some)
            }
            None => Ok(None),
        }
    })?;
    if let Some(made) = &rotated {
        log::info!(
            "rotated the signing key: {} ({:?}) is published and signs from {} UTC",
            made.kid,
            made.algorithm,
            made.activates_at
        );
    }
    Ok(rotated)
}

/// When the new key should start signing, or `None` when no rotation is due.
fn decide(
    stored: &[StoredSigningKey],
    configured: &KeyRing,
    jwt: &JwtSettings,
    now: NaiveDateTime,
    trigger: Trigger,
) -> Result<Option<NaiveDateTime>, KeyError> {
    let now_secs = unix(now);
    let schedules: Vec<Schedule> = stored.iter().map(schedule_of).collect();
    match trigger {
        Trigger::Manual => {
            if let Some(pending) = stored.iter().find(|k| unix(k.activates_at) > now_secs) {
                return Err(KeyError::Database(format!(
                    "key {} is already waiting to sign from {} UTC; rotate again after that",
                    pending.kid, pending.activates_at
                )));
            }
        }
        Trigger::Every { secs } => {
            if !rotation_due(&schedules, now_secs, secs) {
                return Ok(None);
            }
        }
    }
    // With nothing signing yet there is no cached key set to wait for.
    let something_signs = configured.signing.is_some()
        || schedules
            .iter()
            .any(|s| s.activates_at.is_some_and(|at| at <= now_secs));
    let delay = if something_signs {
        i64::try_from(jwt.key_prepublish_secs()).unwrap_or(i64::MAX / 4)
    } else {
        0
    };
    Ok(Some(now + chrono::Duration::seconds(delay)))
}

/// A rotation's transaction fails on the database or on a key; either rolls it back.
#[derive(Debug)]
enum Failure {
    Database(diesel::result::Error),
    Key(KeyError),
}

impl From<diesel::result::Error> for Failure {
    fn from(error: diesel::result::Error) -> Self {
        Failure::Database(error)
    }
}

impl From<KeyError> for Failure {
    fn from(error: KeyError) -> Self {
        Failure::Key(error)
    }
}

impl From<Failure> for KeyError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Database(error) => KeyError::Database(error.to_string()),
            Failure::Key(error) => error,
        }
    }
}

fn create(
    conn: &mut DbConnection,
    stored: &[StoredSigningKey],
    configured: &KeyRing,
    kek: &KeyEncryptionKey,
    algorithm: Algorithm,
    now: NaiveDateTime,
    activates_at: NaiveDateTime,
) -> Result<Rotated, Failure> {
    let private = generate_private_key(algorithm)?;
    let (signing, _) = key_pair_from_pem(None, algorithm, &private)?;
    let known = configured
        .verifying
        .iter()
        .map(|k| k.kid.as_str())
        .chain(stored.iter().map(|k| k.kid.as_str()));
    refuse_duplicate_kid(known, &signing.kid)?;
    let row = StoredSigningKey {
        kid: signing.kid.clone(),
        algorithm: format!("{algorithm:?}"),
        public_key: public_key_pem(algorithm, secrecy::ExposeSecret::expose_secret(&private))?,
        private_key_sealed: kek.seal(&signing.kid, &private)?,
        created_at: now,
        activates_at,
        retires_at: None,
    };
    let retiring = stored
        .iter()
        .filter(|k| k.retires_at.is_none())
        .map(|k| k.kid.clone())
        .collect();
    StoredSigningKey::retire_current(conn, activates_at)?;
    row.insert(conn)?;
    Ok(Rotated {
        kid: row.kid,
        algorithm,
        activates_at,
        retiring,
    })
}
