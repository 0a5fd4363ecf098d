//! argon2id hashing off the async workers, with a bound on how many run at once.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier, Version,
};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use crate::config::PasswordSettings;
use crate::errors::{ApiError, ApiResult};

/// The outcome of checking a password against a stored hash.
pub struct Verified {
    pub matches: bool,
    /// A new hash at the current parameters, when the stored one used others.
    pub upgraded_hash: Option<String>,
}

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// Each hash holds `memory_kib` of memory for its whole run: the bound is what keeps a
    /// burst of logins from exhausting memory or every blocking thread.
    permits: Arc<Semaphore>,
    queue_timeout: Duration,
    /// A hash of a random password at the current parameters: unknown users are checked against
    /// it so that they take as long to reject as a wrong password.
    dummy_hash: Arc<OnceLock<String>>,
}

impl PasswordHasher {
    pub fn new(settings: &PasswordSettings) -> Result<Self, String> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| format!("password: invalid argon2 parameters: {e}"))?;
        let concurrency = match settings.max_concurrent_hashes {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(concurrency)),
            queue_timeout: Duration::from_millis(settings.queue_timeout_ms),
            dummy_hash: Arc::new(OnceLock::new()),
        })
    }

    /// Computes the dummy hash on a background thread, so the first unknown-email login is not
    /// slower than the rest (which would tell that the email is unknown) and start-up does not
    /// wait for it.
    pub fn warm_up(&self) {
        let hasher = self.clone();
        std::thread::spawn(move || {
            hasher.dummy_hash();
        });
    }

    fn dummy_hash(&self) -> &str {
        self.dummy_hash.get_or_init(|| {
            let random = SecretString::from(uuid::Uuid::new_v4().to_string());
            self.hash_blocking(&random).unwrap_or_default()
        })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes a password now, on the calling thread (for the command line).
    pub fn hash_blocking(&self, password: &SecretString) -> Result<String, String> {
        self.argon2()
            .hash_password(password.expose_secret().as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| format!("argon2: {e}"))
    }

    pub async fn hash(&self, password: SecretString) -> ApiResult<String> {
        let hasher = self.clone();
        self.run_limited(move || hasher.hash_blocking(&password).map_err(ApiError::internal))
            .await
    }

    /// Checks `password` against `stored`; with no stored hash (unknown user, or a user with no
    /// usable password) it still spends one hash's time and then fails.
    pub async fn verify(
        &self,
        password: SecretString,
        stored: Option<String>,
    ) -> ApiResult<Verified> {
        let hasher = self.clone();
        self.run_limited(move || Ok(hasher.verify_blocking(&password, stored.as_deref())))
            .await
    }

    fn verify_blocking(&self, password: &SecretString, stored: Option<&str>) -> Verified {
        let argon2 = self.argon2();
        let candidate = password.expose_secret().as_bytes();
        let parsed = stored.and_then(|s| PasswordHash::new(s).ok());
        let Some(parsed) = parsed else {
            if let Ok(dummy) = PasswordHash::new(self.dummy_hash()) {
                let _ = argon2.verify_password(candidate, &dummy);
            }
            return Verified {
                matches: false,
                upgraded_hash: None,
            };
        };
        let matches = argon2.verify_password(candidate, &parsed).is_ok();
        let upgraded_hash = (matches && !self.is_current(&parsed))
            .then(|| self.hash_blocking(password).ok())
            .flatten();
        Verified {
            matches,
            upgraded_hash,
        }
    }

    fn is_current(&self, hash: &PasswordHash) -> bool {
        let same_params = Params::try_from(hash).is_ok_and(|p| {
            p.m_cost() == self.params.m_cost()
                && p.t_cost() == self.params.t_cost()
                && p.p_cost() == self.params.p_cost()
        });
        same_params
            && hash.algorithm.as_str() == argon2::ARGON2ID_IDENT.as_str()
            && hash.version == Some(Version::V0x13.into())
    }

    /// Waits for a permit (at most `queue_timeout`, then 503 overloaded) and runs `work` on
    /// the blocking pool while holding it.
    async fn run_limited<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        let permit = tokio::time::timeout(self.queue_timeout, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| ApiError::overloaded())?
            .map_err(ApiError::internal)?;
        let result = actix_web::rt::task::spawn_blocking(move || {
            let result = work();
            drop(permit);
            result
        })
        .await
        .map_err(ApiError::internal)?;
        result
    }
}
