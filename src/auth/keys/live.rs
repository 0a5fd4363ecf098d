//! The keys a running authd uses right now: the configured ones and those in the database,
//! each placed on its timetable (`schedule`). Every replica reads the database keys again on a
//! thread of its own (and rotates them there when `jwt.auto_rotate_days` says so), and swaps
//! in the result, so a key made by `authd keys rotate` or by another replica is published,
//! signs and retires here on time without a restart.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;

use super::rotation::{self, Trigger};
use super::schedule::{self, Lifetimes};
use super::sealed::KeyEncryptionKey;
use super::snapshot::{build, KeySource, Snapshot};
use super::{KeyError, KeyRing, SigningKey};
use crate::auth::verifier::{TokenError, TokenVerifier};
use crate::config::JwtSettings;
use crate::db::signing_keys::StoredSigningKey;
use crate::db::DbPool;
use authd_verify::{AccessClaims, RefreshClaims};

/// A request that meets an unknown kid reads the keys again, at most this often per replica:
/// a flood of made-up kids costs one small query a second.
const UNKNOWN_KID_RELOAD: Duration = Duration::from_secs(1);

pub struct LiveKeys {
    /// Itself, for the reloads it starts in the background.
    me: Weak<LiveKeys>,
    configured: KeyRing,
    kek: Option<KeyEncryptionKey>,
    jwt: JwtSettings,
    lifetimes: Lifetimes,
    /// `None`: configured keys only (`LiveKeys::configured_only`).
    pool: Option<DbPool>,
    current: RwLock<Arc<Snapshot>>,
    /// When the last reload started.
    last_reload_ms: AtomicI64,
    /// Taken by requests that want keys read after they arrived (`reload_fresh`).
    fresh_turn: tokio::sync::Mutex<()>,
    /// A reload is running (`reload_once`).
    reloading: AtomicBool,
}

impl LiveKeys {
    /// Loads every key, rotates first if automatic rotation is due (with nothing signing yet,
    /// the new key signs at once), and starts the reloading thread. Fails, with the reason,
    /// when no key can sign or a database key cannot be opened.
    pub fn start(
        jwt: &JwtSettings,
        configured: KeyRing,
        kek: Option<KeyEncryptionKey>,
        pool: DbPool,
    ) -> Result<Arc<Self>, KeyError> {
        let reload_every = schedule::reload_interval_secs(jwt);
        let mut conn = pool
            .get()
            .map_err(|e| KeyError::Database(format!("no connection to read the keys: {e}")))?;
        let now = crate::db::now();
        if let (Some(secs), Some(kek)) = (auto_rotate_secs(jwt), &kek) {
            rotation::rotate(
                &mut conn,
                jwt,
                &configured,
                kek,
                now,
                Trigger::Every { secs },
            )?;
        }
        let lifetimes = Lifetimes::from_settings(jwt, reload_every);
        let stored = StoredSigningKey::all(&mut conn).map_err(|e| {
            KeyError::Database(format!("{e} (are the migrations applied? authd migrate)"))
        })?;
        drop(conn);
        let snapshot = build(
            &configured,
            kek.as_ref(),
            jwt,
            lifetimes,
            &stored,
            rotation::unix(now),
            None,
        )?;
        if snapshot.signers.is_empty() {
            let missing = configured.missing.clone().unwrap_or_default();
            return Err(KeyError::Missing(format!(
                "{missing}; nor is there a key in the database (authd keys rotate makes one, \
                 with jwt.key_encryption_key_file set)"
            )));
        }
        let keys = Arc::new_cyclic(|me| Self {
            me: me.clone(),
            configured,
            kek,
            jwt: jwt.clone(),
            lifetimes,
            pool: Some(pool),
            current: RwLock::new(Arc::new(snapshot)),
            last_reload_ms: AtomicI64::new(now_ms()),
            fresh_turn: tokio::sync::Mutex::new(()),
            reloading: AtomicBool::new(false),
        });
        spawn_reloader(Arc::downgrade(&keys), Duration::from_secs(reload_every));
        Ok(keys)
    }

    /// The configured keys alone, never reloaded: for benchmarks and embedders without a
    /// database.
    pub fn configured_only(jwt: &JwtSettings, configured: KeyRing) -> Result<Arc<Self>, KeyError> {
        let lifetimes = Lifetimes::from_settings(jwt, schedule::reload_interval_secs(jwt));
        let now = chrono::Utc::now().timestamp();
        let snapshot = build(&configured, None, jwt, lifetimes, &[], now, None)?;
        if snapshot.signers.is_empty() {
            return Err(KeyError::Missing(
                configured
                    .missing
                    .clone()
                    .unwrap_or_else(|| "no signing key".into()),
            ));
        }
        Ok(Arc::new_cyclic(|me| Self {
            me: me.clone(),
            configured,
            kek: None,
            jwt: jwt.clone(),
            lifetimes,
            pool: None,
            current: RwLock::new(Arc::new(snapshot)),
            last_reload_ms: AtomicI64::new(now_ms()),
            fresh_turn: tokio::sync::Mutex::new(()),
            reloading: AtomicBool::new(false),
        }))
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The key that signs at `now`: the newest one activated.
    pub fn signer(&self, now: i64) -> Option<Arc<SigningKey>> {
        let snapshot = self.snapshot();
        let signer = signing_at(&snapshot, now).map(|(_, key)| Arc::clone(key));
        signer
    }

    /// The key that signs at `now`: its kid, where it comes from, and since when it signs
    /// (Unix seconds): a database key's activation, or when the configured key was made
    /// (`KeyRing::signing_since`).
    pub fn signing_since(&self, now: i64) -> Option<(String, KeySource, i64)> {
        let snapshot = self.snapshot();
        let (activates_at, key) = signing_at(&snapshot, now)?;
        Some(if *activates_at == i64::MIN {
            (
                key.kid.clone(),
                KeySource::Configured,
                self.configured.signing_since,
            )
        } else {
            (key.kid.clone(), KeySource::Database, *activates_at)
        })
    }

    pub fn verifier(&self) -> Arc<TokenVerifier> {
        Arc::clone(&self.snapshot().verifier)
    }

    /// The published keys at `now`: pending, signing, and retired ones whose access tokens may
    /// still live.
    pub fn jwks(&self, now: i64) -> JwkSet {
        let snapshot = self.snapshot();
        JwkSet {
            keys: snapshot
                .keys
                .iter()
                .filter(|view| view.schedule.state(now, self.lifetimes).published())
                .filter_map(|view| view.key.public_jwk.clone())
                .collect(),
        }
    }

    /// The algorithms of the keys known at start, for the discovery document.
    pub fn algorithms(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .snapshot()
            .keys
            .iter()
            .map(|view| format!("{:?}", view.key.algorithm))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Reads the database keys again and swaps them in.
    pub fn reload(&self) -> Result<(), KeyError> {
        self.last_reload_ms.store(now_ms(), Ordering::Relaxed);
        let Some(pool) = &self.pool else {
            return Ok(());
        };
        let mut conn = pool.get().map_err(|e| KeyError::Database(e.to_string()))?;
        let stored = StoredSigningKey::all(&mut conn).map_err(database)?;
        drop(conn);
        let previous = self.snapshot();
        let next = build(
            &self.configured,
            self.kek.as_ref(),
            &self.jwt,
            self.lifetimes,
            &stored,
            chrono::Utc::now().timestamp(),
            Some(&previous),
        )?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        Ok(())
    }

    /// A reload on the blocking pool, unless one started less than `age` ago.
    pub async fn reload_if_older(self: &Arc<Self>, age: Duration) {
        let last = self.last_reload_ms.load(Ordering::Relaxed);
        let now = now_ms();
        let due = now.saturating_sub(last) >= i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
        if !due
            || self
                .last_reload_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        self.reload_on_blocking_pool().await;
    }

    /// Makes sure the keys were read after this call began, so a key made a moment ago by
    /// another process is known; gives up after `wait` (the database is down: the keys in
    /// memory serve). Callers take turns and share reloads, and one reload runs at a time,
    /// so a flood of callers keeps at most one query running.
    pub async fn reload_fresh(self: &Arc<Self>, wait: Duration) {
        let arrived = now_ms();
        let fresh = async {
            let _turn = self.fresh_turn.lock().await;
            loop {
                let reloading = self.reloading.load(Ordering::Acquire);
                if !reloading && self.last_reload_ms.load(Ordering::Acquire) > arrived {
                    return;
                }
                if !reloading {
                    self.reload_on_blocking_pool().await;
                    return;
                }
                // The reloading thread is at it; whether its read is recent enough shows
                // when it ends.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        let _ = tokio::time::timeout(wait, fresh).await;
    }

    async fn reload_on_blocking_pool(self: &Arc<Self>) {
        let keys = Arc::clone(self);
        match actix_web::web::block(move || keys.reload_once()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => log::warn!("cannot reload the signing keys: {error}"),
            Err(error) => log::warn!("cannot reload the signing keys: {error}"),
        }
    }

    /// `reload`, unless one is running already (then nothing).
    fn reload_once(&self) -> Result<(), KeyError> {
        if self.reloading.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let reloaded = self.reload();
        self.reloading.store(false, Ordering::Release);
        reloaded
    }

    /// An access token, checked against the keys in memory: the bearer check reads no
    /// database. A kid this replica does not know yet (a key another process just made, which
    /// the schedule makes unlikely: every replica reads a new key well before it signs) starts
    /// a reload in the background, at most once a second, and is refused meanwhile.
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let checked = self.verifier().verify_access(token);
        if checked == Err(TokenError::UnknownKey) {
            self.reload_in_background();
        }
        checked
    }

    /// A refresh token, checked as `verify_access` checks access tokens.
    pub fn verify_refresh(
        &self,
        token: &str,
        check_expiry: bool,
    ) -> Result<RefreshClaims, TokenError> {
        let checked = self.verifier().verify_refresh(token, check_expiry);
        if matches!(checked, Err(TokenError::UnknownKey)) {
            self.reload_in_background();
        }
        checked
    }

    fn reload_in_background(&self) {
        let (Some(keys), Ok(runtime)) = (self.me.upgrade(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        runtime.spawn(async move { keys.reload_if_older(UNKNOWN_KID_RELOAD).await });
    }

    /// One beat of the reloading thread: rotate if due, then reload.
    fn tick(&self) {
        if let (Some(secs), Some(kek), Some(pool)) =
            (auto_rotate_secs(&self.jwt), &self.kek, &self.pool)
        {
            // Requests' reads may have left the pooled connection refusing writes (SQLite).
            let rotated = pool
                .get()
                .map_err(|e| KeyError::Database(e.to_string()))
                .and_then(|mut conn| conn.set_read_only(false).map(|()| conn).map_err(database));
            let rotated = rotated.and_then(|mut conn| {
                rotation::rotate(
                    &mut conn,
                    &self.jwt,
                    &self.configured,
                    kek,
                    crate::db::now(),
                    Trigger::Every { secs },
                )
            });
            if let Err(error) = rotated {
                log::error!("automatic key rotation failed: {error}");
            }
        }
        if let Err(error) = self.reload_once() {
            log::warn!("cannot reload the signing keys: {error}");
        }
    }
}

/// The newest key activated by `now` (or, before any is, the next to be), with its activation.
fn signing_at(snapshot: &Snapshot, now: i64) -> Option<&(i64, Arc<SigningKey>)> {
    snapshot
        .signers
        .iter()
        .find(|(activates_at, _)| *activates_at <= now)
        .or(snapshot.signers.last())
}

fn auto_rotate_secs(jwt: &JwtSettings) -> Option<i64> {
    (jwt.auto_rotate_days > 0.0).then(|| (jwt.auto_rotate_days * 86_400.0).round().max(1.0) as i64)
}

fn database(error: diesel::result::Error) -> KeyError {
    KeyError::Database(error.to_string())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The reloading thread: it ends with the last reference to the keys (the application).
fn spawn_reloader(keys: Weak<LiveKeys>, every: Duration) {
    let spawned = std::thread::Builder::new()
        .name("authd-keys".into())
        .spawn(move || loop {
            std::thread::sleep(every);
            match keys.upgrade() {
                Some(keys) => keys.tick(),
                None => return,
            }
        });
    if let Err(error) = spawned {
        log::error!("cannot start the key reloading thread: {error}");
    }
}
