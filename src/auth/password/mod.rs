//! argon2id hashing off the async workers, with a bound on how many run at once. Passwords
//! are also checked against hashes imported from Django (`django.rs`), then moved to argon2id.

mod django;
mod memory;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Params, PasswordHash, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use self::memory::MemoryPool;
pub use self::memory::WorkingMemory;
use crate::config::PasswordSettings;
use crate::domain::NewPassword;
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
    concurrency: usize,
    /// The wait for a permit (`authd_queue_*{queue="password_hash"}`).
    queue: crate::metrics::QueueMetrics,
    memory: MemoryPool,
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
            memory: MemoryPool::new(params.block_count()),
            params,
            permits: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            queue: crate::metrics::QueueMetrics::unregistered(),
            queue_timeout: Duration::from_millis(settings.queue_timeout_ms),
            dummy_hash: Arc::new(OnceLock::new()),
        })
    }

    /// Records the waits for a permit in `queue`.
    pub fn with_metrics(mut self, queue: crate::metrics::QueueMetrics) -> Self {
        self.queue = queue;
        self
    }

    /// Permits held now: hashes and password checks running.
    pub fn permits_in_use(&self) -> usize {
        self.concurrency
            .saturating_sub(self.permits.available_permits())
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

    /// Hashes a password now, on the calling thread, into memory of its own (for the command
    /// line and start-up).
    pub fn hash_blocking(&self, password: &SecretString) -> Result<String, String> {
        self.hash_with(password, &mut WorkingMemory::default())
    }

    /// A PHC string (`$argon2id$v=19$m=..,t=..,p=..$salt$hash`) with a fresh 16-byte salt.
    /// argon2's own `hash_password` would allocate its memory for every call.
    pub fn hash_with(
        &self,
        password: &SecretString,
        memory: &mut WorkingMemory,
    ) -> Result<String, String> {
        let failed = |e: &dyn std::fmt::Display| format!("argon2: {e}");
        let salt = Salt::generate();
        let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
            .hash_password_into_with_memory(
                password.expose_secret().as_bytes(),
                &salt,
                &mut output,
                memory.blocks(self.params.block_count()),
            )
            .map_err(|e| failed(&e))?;
        let hash = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params).map_err(|e| failed(&e))?,
            salt: Some(salt),
            hash: Some(Output::new(&output).map_err(|e| failed(&e))?),
        };
        Ok(hash.to_string())
    }

    /// The password policy (`NewPassword::parse`), under a permit on the blocking pool like a
    /// hash: its strength estimate costs milliseconds of CPU that a crafted password can make
    /// many more, and a few of those on the async workers would stall every route.
    pub async fn check_new_password(
        &self,
        raw: String,
        personal: Vec<String>,
    ) -> ApiResult<Result<NewPassword, Vec<String>>> {
        self.run_limited(move |_, _| {
            let personal: Vec<&str> = personal.iter().map(String::as_str).collect();
            Ok(NewPassword::parse(&raw, &personal))
        })
        .await
    }

    pub async fn hash(&self, password: SecretString) -> ApiResult<String> {
        self.run_limited(move |hasher, memory| {
            hasher
                .hash_with(&password, memory)
                .map_err(ApiError::internal)
        })
        .await
    }

    /// Checks `password` against `stored`; with no stored hash (unknown user, or a user with no
    /// usable password) it still spends one hash's time and then fails.
    pub async fn verify(
        &self,
        password: SecretString,
        stored: Option<String>,
    ) -> ApiResult<Verified> {
        self.run_limited(move |hasher, memory| {
            Ok(hasher.verify_with(&password, stored.as_deref(), memory))
        })
        .await
    }

    fn verify_with(
        &self,
        password: &SecretString,
        stored: Option<&str>,
        memory: &mut WorkingMemory,
    ) -> Verified {
        // A Django hash that is malformed or beyond its bounds is not parsed, and takes the dummy
        // path below like any unknown hash.
        if let Some(django) = stored.and_then(django::DjangoHash::parse) {
            let matches = django.matches(password, memory);
            // Never current, whatever its parameters: a match moves the user to authd's own.
            let upgraded_hash = matches
                .then(|| self.hash_with(password, memory).ok())
                .flatten();
            return Verified {
                matches,
                upgraded_hash,
            };
        }
        let parsed = stored.and_then(|s| PasswordHash::new(s).ok());
        let Some(parsed) = parsed else {
            if let Ok(dummy) = PasswordHash::new(self.dummy_hash()) {
                matches(password, &dummy, memory);
            }
            return Verified {
                matches: false,
                upgraded_hash: None,
            };
        };
        let matches = matches(password, &parsed, memory);
        let upgraded_hash = (matches && !self.is_current(&parsed))
            .then(|| self.hash_with(password, memory).ok())
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
    /// the blocking pool while holding it, with working memory from the pool.
    async fn run_limited<T: Send + 'static>(
        &self,
        work: impl FnOnce(&PasswordHasher, &mut WorkingMemory) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        let _demand = self.memory.demand();
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => {
                self.queue.served_at_once();
                permit
            }
            Err(_) => self
                .queue
                .wait(self.queue_timeout, self.permits.clone().acquire_owned())
                .await
                .ok_or_else(ApiError::overloaded)?
                .map_err(ApiError::internal)?,
        };
        let hasher = self.clone();
        let result = actix_web::rt::task::spawn_blocking(move || {
            let mut memory = hasher.memory.take();
            let result = work(&hasher, &mut memory);
            hasher.memory.put_back(memory);
            drop(permit);
            result
        })
        .await
        .map_err(ApiError::internal)?;
        result
    }
}

/// Whether `password` hashes to `stored`, at the stored hash's own algorithm and parameters.
/// The outputs are compared in constant time (`Output`'s `PartialEq`).
fn matches(password: &SecretString, stored: &PasswordHash, memory: &mut WorkingMemory) -> bool {
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(stored.algorithm.as_str()) else {
        return false;
    };
    let version = stored
        .version
        .map_or(Ok(Version::default()), Version::try_from);
    let (Ok(version), Ok(params)) = (version, Params::try_from(stored)) else {
        return false;
    };
    if let Err(what) = django::argon2_cost(&params) {
        log::warn!("a stored argon2 hash is beyond the cost bounds ({what}); refused");
        return false;
    }
    let mut output = vec![0u8; expected.len()];
    let blocks = memory.blocks(params.block_count());
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(
            password.expose_secret().as_bytes(),
            salt,
            &mut output,
            blocks,
        )
        .is_ok_and(|()| Output::new(&output).is_ok_and(|computed| computed == *expected))
}

#[cfg(test)]
mod tests {
    use argon2::{PasswordHasher as _, PasswordVerifier as _};

    use super::*;

    fn hasher() -> PasswordHasher {
        PasswordHasher::new(&hasher_settings()).unwrap()
    }

    /// Our PHC strings and argon2's own must be interchangeable in both directions, since
    /// existing rows were written by `Argon2::hash_password`.
    #[test]
    fn hashes_agree_with_the_argon2_crate_both_ways() {
        let hasher = hasher();
        let password = SecretString::from("violet-Tractor-42".to_owned());
        let wrong = SecretString::from("violet-Tractor-43".to_owned());
        let mut memory = WorkingMemory::default();

        let ours = hasher.hash_with(&password, &mut memory).unwrap();
        let reference = Argon2::new(Algorithm::Argon2id, Version::V0x13, hasher.params.clone());
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(reference
            .verify_password(b"violet-Tractor-42", &parsed)
            .is_ok());
        assert!(reference
            .verify_password(b"violet-Tractor-43", &parsed)
            .is_err());

        let theirs = reference.hash_password(b"violet-Tractor-42").unwrap();
        assert!(matches(&password, &theirs, &mut memory));
        assert!(!matches(&wrong, &theirs, &mut memory));
        assert!(hasher.is_current(&theirs));
    }

    #[test]
    fn a_stored_hash_at_other_parameters_still_verifies_and_is_upgraded() {
        let old = PasswordHasher::new(&PasswordSettings {
            memory_kib: 128,
            iterations: 2,
            ..hasher_settings()
        })
        .unwrap();
        let password = SecretString::from("violet-Tractor-42".to_owned());
        let stored = old.hash_blocking(&password).unwrap();
        let verified =
            hasher().verify_with(&password, Some(&stored), &mut WorkingMemory::default());
        assert!(verified.matches);
        let upgraded = verified.upgraded_hash.expect("an upgraded hash");
        assert!(upgraded.contains("m=64,t=1,p=1"), "{upgraded}");
    }

    #[test]
    fn authd_hashes_are_held_to_the_argon2_bounds_too() {
        let costly = Params::new(2 << 20, 1, 1, None).unwrap();
        assert_eq!(django::argon2_cost(&costly), Err("memory"));
        let slow = Params::new(1 << 20, 5, 1, None).unwrap();
        assert_eq!(django::argon2_cost(&slow), Err("memory times iterations"));
        assert!(django::argon2_cost(&hasher().params).is_ok());
        assert!(django::argon2_cost(&Params::new(19456, 2, 1, None).unwrap()).is_ok());
    }

    fn hasher_settings() -> PasswordSettings {
        PasswordSettings {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
            max_concurrent_hashes: 1,
            queue_timeout_ms: 1000,
        }
    }
}
