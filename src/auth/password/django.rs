//! Password hashes imported from a Django `auth_user` table, in the formats Django 5.2 writes
//! (`django/contrib/auth/hashers.py`), so that those users can log in once and be moved to
//! authd's own argon2id.
//!
//! A stored hash is data from an import, not something authd chose, so each format's cost is
//! bounded before any work is done: one absurd row must not be able to hold a blocking thread
//! for minutes or allocate gigabytes at every login attempt. The bounds are a generous multiple
//! of Django 5.2's defaults; a hash beyond them, or malformed, never matches.
//!
//! Django's unsalted and MD5 hashers are left out on purpose: those rows are unknown hashes,
//! and their users reset their passwords.

use argon2::{Params, PasswordHash};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use sha1::Sha1;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::WorkingMemory;

/// 10x Django 5.2's 1,000,000; each iteration is two SHA compressions, so this is a few
/// seconds of one core at most.
const MAX_PBKDF2_ITERATIONS: u64 = 10_000_000;
/// 16x the time of Django's default cost 12 (cost is a power of two).
const MAX_BCRYPT_COST: u64 = 16;
/// scrypt holds `128 * n * r` bytes (16 MiB at Django's n = 2^14, r = 8) ...
const MAX_SCRYPT_MEMORY: u64 = 256 << 20;
/// ... and runs the p lanes one after another, so its time goes with `128 * n * r * p`
/// (80 MiB at Django's p = 5).
const MAX_SCRYPT_WORK: u64 = 1 << 30;
/// argon2's `m` is in KiB: 1 GiB, 10x Django's 100 MiB ...
const MAX_ARGON2_MEMORY_KIB: u64 = 1 << 20;
/// ... and its time goes with `m * t`: four passes over 1 GiB, 20x Django's `m=102400,t=2`.
const MAX_ARGON2_WORK_KIB: u64 = 4 << 20;

/// A Django hash that is well formed and within the bounds, ready to check.
pub(super) enum DjangoHash<'a> {
    Pbkdf2 {
        sha256: bool,
        iterations: u32,
        salt: &'a str,
        expected: Vec<u8>,
    },
    /// Boxed: a PHC string is far larger than the other variants.
    Argon2(Box<PasswordHash>),
    Bcrypt {
        /// `bcrypt_sha256`: the password's SHA-256 in lower-case hex goes into bcrypt, so a
        /// password longer than bcrypt's 72 bytes is not cut short.
        sha256: bool,
        /// The `$2b$<cost>$<salt><hash>` part, as the bcrypt crate reads it.
        hash: &'a str,
    },
    Scrypt {
        params: scrypt::Params,
        salt: &'a str,
        expected: Vec<u8>,
    },
}

enum Refused {
    Malformed,
    TooCostly(&'static str),
}

impl<'a> DjangoHash<'a> {
    /// `None` when `stored` is not a Django format authd checks, is unusable (`!`-prefixed),
    /// is malformed or is beyond the bounds: the caller treats all of those as unknown.
    pub(super) fn parse(stored: &'a str) -> Option<Self> {
        // Django's `set_unusable_password`: `!` and random characters, which no password has.
        if stored.starts_with('!') {
            return None;
        }
        let (algorithm, rest) = stored.split_once('$')?;
        let parsed = match algorithm {
            "pbkdf2_sha256" => pbkdf2(true, rest),
            "pbkdf2_sha1" => pbkdf2(false, rest),
            // Django stores argon2-cffi's PHC string behind its own `argon2` prefix.
            "argon2" => argon2(&stored[algorithm.len()..]),
            "bcrypt_sha256" => bcrypt(true, rest),
            "bcrypt" => bcrypt(false, rest),
            "scrypt" => scrypt(rest),
            _ => return None,
        };
        // Neither the hash nor the user is logged: the operator can find the rows by prefix.
        match parsed {
            Ok(hash) => Some(hash),
            Err(Refused::Malformed) => {
                log::warn!("password: a malformed Django {algorithm} hash never matches");
                None
            }
            Err(Refused::TooCostly(what)) => {
                log::warn!(
                    "password: a Django {algorithm} hash whose {what} is beyond authd's bounds \
                     never matches"
                );
                None
            }
        }
    }

    /// Derives from `password` as Django would and compares in constant time.
    pub(super) fn matches(&self, password: &SecretString, memory: &mut WorkingMemory) -> bool {
        let raw = password.expose_secret().as_bytes();
        match self {
            DjangoHash::Pbkdf2 {
                sha256,
                iterations,
                salt,
                expected,
            } => {
                let mut derived = vec![0u8; expected.len()];
                if *sha256 {
                    pbkdf2::pbkdf2_hmac::<Sha256>(raw, salt.as_bytes(), *iterations, &mut derived);
                } else {
                    pbkdf2::pbkdf2_hmac::<Sha1>(raw, salt.as_bytes(), *iterations, &mut derived);
                }
                derived.ct_eq(expected).into()
            }
            // The same path as authd's own hashes, in the caller's working memory; it compares
            // with `Output`'s constant-time `PartialEq`.
            DjangoHash::Argon2(hash) => super::matches(password, hash, memory),
            // bcrypt::verify compares the outputs with `subtle`'s `ct_eq`.
            DjangoHash::Bcrypt { sha256: true, hash } => {
                let hex = Zeroizing::new(lower_hex(&Sha256::digest(raw)));
                bcrypt::verify(&hex[..], hash).unwrap_or(false)
            }
            // Plain `bcrypt` cuts the password at 72 bytes, as it did when Django wrote it.
            DjangoHash::Bcrypt {
                sha256: false,
                hash,
            } => bcrypt::verify(raw, hash).unwrap_or(false),
            DjangoHash::Scrypt {
                params,
                salt,
                expected,
            } => {
                let mut derived = vec![0u8; expected.len()];
                scrypt::scrypt(raw, salt.as_bytes(), params, &mut derived).is_ok()
                    && bool::from(derived.ct_eq(expected))
            }
        }
    }
}

/// `<iterations>$<salt>$<base64 of the derived key>`, the key as long as the digest.
fn pbkdf2(sha256: bool, rest: &str) -> Result<DjangoHash<'_>, Refused> {
    let mut fields = rest.splitn(3, '$');
    let (Some(iterations), Some(salt), Some(encoded)) =
        (fields.next(), fields.next(), fields.next())
    else {
        return Err(Refused::Malformed);
    };
    let iterations = decimal(iterations)?;
    if iterations == 0 || salt.is_empty() {
        return Err(Refused::Malformed);
    }
    if iterations > MAX_PBKDF2_ITERATIONS {
        return Err(Refused::TooCostly("iteration count"));
    }
    let expected = STANDARD.decode(encoded).map_err(|_| Refused::Malformed)?;
    if expected.len() != if sha256 { 32 } else { 20 } {
        return Err(Refused::Malformed);
    }
    Ok(DjangoHash::Pbkdf2 {
        sha256,
        iterations: u32::try_from(iterations).map_err(|_| Refused::Malformed)?,
        salt,
        expected,
    })
}

/// Whether argon2 at `params` stays within the bounds (authd's own stored hashes are held to
/// them too: a row written by hand must not allocate without limit).
pub(super) fn argon2_cost(params: &Params) -> Result<(), &'static str> {
    let memory_kib = u64::from(params.m_cost());
    if memory_kib > MAX_ARGON2_MEMORY_KIB {
        return Err("memory");
    }
    if memory_kib * u64::from(params.t_cost()) > MAX_ARGON2_WORK_KIB {
        return Err("memory times iterations");
    }
    Ok(())
}

/// A PHC string; argon2id since Django 3.2, argon2i before. argon2-cffi before 16.0 wrote no
/// `v=`, which libargon2 reads as version 0x10 (the argon2 crate would assume 0x13).
fn argon2(phc: &str) -> Result<DjangoHash<'_>, Refused> {
    let mut hash = PasswordHash::new(phc).map_err(|_| Refused::Malformed)?;
    let known = [argon2::ARGON2ID_IDENT, argon2::ARGON2I_IDENT];
    if !known.contains(&hash.algorithm) || hash.salt.is_none() || hash.hash.is_none() {
        return Err(Refused::Malformed);
    }
    let params = Params::try_from(&hash).map_err(|_| Refused::Malformed)?;
    argon2_cost(&params).map_err(Refused::TooCostly)?;
    let version = *hash.version.get_or_insert(0x10);
    argon2::Version::try_from(version).map_err(|_| Refused::Malformed)?;
    Ok(DjangoHash::Argon2(Box::new(hash)))
}

/// `$2b$<cost>$<22 characters of salt><31 of hash>`, after Django's own prefix and `$`.
fn bcrypt(sha256: bool, hash: &str) -> Result<DjangoHash<'_>, Refused> {
    // $2x$ is crypt_blowfish's buggy variant, which neither Django nor the crate computes.
    let known = ["$2a$", "$2b$", "$2y$"];
    if !known.iter().any(|prefix| hash.starts_with(prefix)) {
        return Err(Refused::Malformed);
    }
    let parts: bcrypt::HashParts = hash.parse().map_err(|_| Refused::Malformed)?;
    let cost = u64::from(parts.get_cost());
    if cost < 4 {
        return Err(Refused::Malformed);
    }
    if cost > MAX_BCRYPT_COST {
        return Err(Refused::TooCostly("cost"));
    }
    Ok(DjangoHash::Bcrypt { sha256, hash })
}

/// `<n>$<salt>$<r>$<p>$<base64 of the 64-byte key>`.
fn scrypt(rest: &str) -> Result<DjangoHash<'_>, Refused> {
    let fields: Vec<&str> = rest.splitn(5, '$').collect();
    let [n, salt, r, p, encoded] = fields[..] else {
        return Err(Refused::Malformed);
    };
    let (n, r, p) = (decimal(n)?, decimal(r)?, decimal(p)?);
    if n < 2 || !n.is_power_of_two() || r == 0 || p == 0 || salt.is_empty() {
        return Err(Refused::Malformed);
    }
    let memory = 128u64.saturating_mul(n).saturating_mul(r);
    if memory > MAX_SCRYPT_MEMORY {
        return Err(Refused::TooCostly("memory"));
    }
    if memory.saturating_mul(p) > MAX_SCRYPT_WORK {
        return Err(Refused::TooCostly("memory times parallelism"));
    }
    let expected = STANDARD.decode(encoded).map_err(|_| Refused::Malformed)?;
    if expected.len() != 64 {
        return Err(Refused::Malformed);
    }
    // Within the bounds r and p fit in a u32, and n's log in a u8.
    let (Ok(log_n), Ok(r), Ok(p)) = (
        u8::try_from(n.trailing_zeros()),
        u32::try_from(r),
        u32::try_from(p),
    ) else {
        return Err(Refused::Malformed);
    };
    let params =
        scrypt::Params::new(log_n, r, p, expected.len()).map_err(|_| Refused::Malformed)?;
    Ok(DjangoHash::Scrypt {
        params,
        salt,
        expected,
    })
}

/// Digits only (Python's `int()` would also take signs, spaces and underscores, which Django
/// never writes). Too many digits for a u64 is a cost beyond any bound, not a format error.
fn decimal(field: &str) -> Result<u64, Refused> {
    if field.is_empty() || !field.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Refused::Malformed);
    }
    Ok(field.parse().unwrap_or(u64::MAX))
}

fn lower_hex(bytes: &[u8]) -> [u8; 64] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = [0u8; 64];
    for (pair, byte) in hex.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
    hex
}

#[cfg(test)]
mod tests;
