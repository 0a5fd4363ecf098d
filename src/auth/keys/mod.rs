//! Signing and verification keys. The configured ones (`KeyRing`) are loaded here, PEM
//! handling is in `pem`, the database keys' encryption at rest in `sealed`, their timetable in
//! `schedule`, rotation in `rotation`, every key at one moment in `snapshot`, and the keys a
//! running authd uses right now, reloaded, in `live`.

pub mod live;
mod pem;
pub mod rotation;
pub mod schedule;
pub mod sealed;
pub mod snapshot;

pub use live::LiveKeys;
pub use pem::{encoding_key_from_pem, generate_private_key, public_key_pem, write_private_file};

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use jsonwebtoken::jwk::{Jwk, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use secrecy::{ExposeSecret, SecretString};

use crate::config::{JwtSettings, VerificationKeySettings};

/// The algorithms authd signs and verifies with; anything else (including `none`) is refused.
pub use authd_verify::SUPPORTED_ALGORITHMS;

const GENERATED_KEY_FILE: &str = "authd-signing-key.pem";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("jwt algorithm {0:?} is not one of EdDSA, ES256, RS256, HS256")]
    Algorithm(String),
    #[error("{0}")]
    Missing(String),
    #[error("cannot read the key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the key file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key {kid:?}: {reason}")]
    Invalid { kid: String, reason: String },
    #[error("signing keys in the database: {0}")]
    Database(String),
}

pub fn parse_algorithm(name: &str) -> Result<Algorithm, KeyError> {
    Algorithm::from_str(name)
        .ok()
        .filter(|alg| SUPPORTED_ALGORITHMS.contains(alg))
        .ok_or_else(|| KeyError::Algorithm(name.to_owned()))
}

/// The private key tokens are signed with.
pub struct SigningKey {
    pub kid: String,
    pub algorithm: Algorithm,
    pub(crate) encoding: EncodingKey,
    /// The Ed25519 key, parsed once. `jsonwebtoken::encode` parses its PKCS#8 bytes again for
    /// every token, and that parse derives the public key, which costs as much as a signature:
    /// half of the time of issuing a pair (`benches/crypto.rs`, bench/README.md).
    pub(crate) ed25519: Option<ed25519_dalek::SigningKey>,
}

impl SigningKey {
    pub fn new(kid: String, algorithm: Algorithm, encoding: EncodingKey) -> Self {
        // Should the parse fail, signing falls back to `jsonwebtoken::encode`, which reports it.
        let ed25519 = match algorithm {
            Algorithm::EdDSA => {
                use ed25519_dalek::pkcs8::DecodePrivateKey;
                ed25519_dalek::SigningKey::from_pkcs8_der(encoding.as_bytes()).ok()
            }
            _ => None,
        };
        Self {
            kid,
            algorithm,
            encoding,
            ed25519,
        }
    }
}

/// A key that verifies tokens: the signing key's public half, or an older key kept for rotation.
#[derive(Clone)]
pub struct VerifyingKey {
    pub kid: String,
    pub algorithm: Algorithm,
    pub decoding: DecodingKey,
    /// The public JWK; `None` for HS256, whose secret is never published.
    pub public_jwk: Option<Jwk>,
}

/// The keys in the configuration: the PEM (or HS256 secret) that signs, and the public keys
/// kept for verification (`jwt.verification_keys`). Keys in the database join them in
/// `LiveKeys`.
pub struct KeyRing {
    /// `None` when no private key is configured (`missing` says what is missing); then a
    /// database key must sign.
    pub signing: Option<Arc<SigningKey>>,
    /// The signing key's public half first, if there is one.
    pub verifying: Vec<VerifyingKey>,
    pub missing: Option<String>,
    /// When the signing key was made, as far as can be told (Unix seconds): its file's
    /// modification time, or the time it was loaded when it did not come from a file.
    pub signing_since: i64,
}

impl KeyRing {
    /// Loads the configured keys. With no key configured and `generate_key` on, an Ed25519 key
    /// is generated once into `generated_key_dir` and reused on every later start.
    pub fn load(jwt: &JwtSettings, generated_key_dir: &Path) -> Result<Self, KeyError> {
        let algorithm = parse_algorithm(&jwt.algorithm)?;
        let configured_kid = (!jwt.kid.is_empty()).then_some(jwt.kid.as_str());
        let mut signing_since = chrono::Utc::now().timestamp();
        let (signing, mut verifying, missing) = if algorithm == Algorithm::HS256 {
            let secret = jwt.secret.expose_secret().as_bytes();
            if secret.is_empty() {
                return Err(KeyError::Missing(
                    "jwt.algorithm is HS256 but jwt.secret is empty".into(),
                ));
            }
            let kid = configured_kid.unwrap_or("hs256").to_owned();
            let verifying = VerifyingKey {
                kid: kid.clone(),
                algorithm,
                decoding: DecodingKey::from_secret(secret),
                public_jwk: None,
            };
            let signing = SigningKey::new(kid, algorithm, EncodingKey::from_secret(secret));
            (Some(Arc::new(signing)), vec![verifying], None)
        } else {
            match private_key_pem(jwt, algorithm, generated_key_dir) {
                Ok((pem, written)) => {
                    signing_since = written.unwrap_or(signing_since);
                    let (signing, verifying) = key_pair_from_pem(configured_kid, algorithm, &pem)?;
                    (Some(Arc::new(signing)), vec![verifying], None)
                }
                Err(KeyError::Missing(reason)) => (None, Vec::new(), Some(reason)),
                Err(other) => return Err(other),
            }
        };
        for extra in &jwt.verification_keys {
            let key = load_verifying_key(extra)?;
            refuse_duplicate_kid(verifying.iter().map(|k| k.kid.as_str()), &key.kid)?;
            verifying.push(key);
        }
        Ok(KeyRing {
            signing,
            verifying,
            missing,
            signing_since,
        })
    }
}

/// Verification picks the key by kid; a second key under the same kid would shadow the first,
/// and every token of the shadowed key would fail (e.g. a rotation that kept a fixed jwt.kid
/// for the new key).
pub fn refuse_duplicate_kid<'a>(
    known: impl IntoIterator<Item = &'a str>,
    kid: &str,
) -> Result<(), KeyError> {
    if known.into_iter().any(|known| known == kid) {
        return Err(KeyError::Invalid {
            kid: kid.to_owned(),
            reason: "more than one key has this kid; every key needs its own (set jwt.kid, \
                     or leave it empty for the key's thumbprint)"
                .into(),
        });
    }
    Ok(())
}

/// A private PEM's signing key and public half. Without a kid, the kid is the public key's
/// RFC 7638 thumbprint.
pub fn key_pair_from_pem(
    kid: Option<&str>,
    algorithm: Algorithm,
    pem: &SecretString,
) -> Result<(SigningKey, VerifyingKey), KeyError> {
    let invalid = |reason: String| KeyError::Invalid {
        kid: kid.unwrap_or("signing").to_owned(),
        reason,
    };
    let encoding = encoding_key_from_pem(algorithm, pem.expose_secret())
        .map_err(|e| invalid(format!("not a PKCS#8 PEM {algorithm:?} private key: {e}")))?;
    let jwk = Jwk::from_encoding_key(&encoding, algorithm).map_err(|e| invalid(e.to_string()))?;
    let decoding = DecodingKey::from_jwk(&jwk).map_err(|e| invalid(e.to_string()))?;
    let kid = match kid {
        Some(kid) => kid.to_owned(),
        None => jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|e| invalid(e.to_string()))?,
    };
    let verifying = VerifyingKey {
        kid: kid.clone(),
        algorithm,
        decoding,
        public_jwk: Some(published(jwk, &kid, algorithm)),
    };
    Ok((SigningKey::new(kid, algorithm, encoding), verifying))
}

/// A public SPKI PEM as a verifying key under `kid`.
pub fn verifying_key_from_public_pem(
    kid: &str,
    algorithm: Algorithm,
    pem: &str,
) -> Result<VerifyingKey, KeyError> {
    let invalid = |reason: String| KeyError::Invalid {
        kid: kid.to_owned(),
        reason,
    };
    let decoding = match algorithm {
        Algorithm::EdDSA => DecodingKey::from_ed_pem(pem.as_bytes()),
        Algorithm::ES256 => DecodingKey::from_ec_pem(pem.as_bytes()),
        _ => DecodingKey::from_rsa_pem(pem.as_bytes()),
    }
    .map_err(|e| invalid(format!("not a PEM {algorithm:?} public key: {e}")))?;
    let jwk =
        Jwk::from_decoding_key(&decoding, Some(algorithm)).map_err(|e| invalid(e.to_string()))?;
    Ok(VerifyingKey {
        kid: kid.to_owned(),
        algorithm,
        decoding,
        public_jwk: Some(published(jwk, kid, algorithm)),
    })
}

fn published(mut jwk: Jwk, kid: &str, algorithm: Algorithm) -> Jwk {
    jwk.common.key_id = Some(kid.to_owned());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    jwk.common.key_algorithm = Some(algorithm.into());
    jwk
}

/// The PEM, and when its file was last written (Unix seconds) when it came from one.
fn private_key_pem(
    jwt: &JwtSettings,
    algorithm: Algorithm,
    generated_key_dir: &Path,
) -> Result<(SecretString, Option<i64>), KeyError> {
    if !jwt.private_key.expose_secret().is_empty() {
        return Ok((jwt.private_key.clone(), None));
    }
    let path = if jwt.private_key_file.is_empty() {
        generated_key_dir.join(GENERATED_KEY_FILE)
    } else {
        PathBuf::from(&jwt.private_key_file)
    };
    match std::fs::read_to_string(&path) {
        Ok(pem) => Ok((SecretString::from(pem), modified_at(&path))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && jwt.generate_key => {
            let pem = generate_private_key(algorithm)?;
            write_private_file(&path, pem.expose_secret())?;
            log::info!(
                "generated a new {algorithm:?} signing key at {}",
                path.display()
            );
            Ok((pem, modified_at(&path)))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Err(KeyError::Missing(format!(
                "no signing key: {} does not exist; set jwt.private_key_file or jwt.private_key \
             (authd keys generate writes one), or jwt.generate_key = true for development",
                path.display()
            )))
        }
        Err(source) => Err(KeyError::Read { path, source }),
    }
}

fn modified_at(path: &Path) -> Option<i64> {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
    let since_epoch = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(since_epoch.as_secs()).ok()
}

fn load_verifying_key(settings: &VerificationKeySettings) -> Result<VerifyingKey, KeyError> {
    let kid = settings.kid.clone();
    let algorithm = parse_algorithm(&settings.algorithm)?;
    let invalid = |reason: String| KeyError::Invalid {
        kid: kid.clone(),
        reason,
    };
    if algorithm == Algorithm::HS256 {
        let secret = settings.secret.expose_secret().as_bytes();
        if secret.is_empty() {
            return Err(invalid("an HS256 verification key needs `secret`".into()));
        }
        return Ok(VerifyingKey {
            kid: kid.clone(),
            algorithm,
            decoding: DecodingKey::from_secret(secret),
            public_jwk: None,
        });
    }
    let pem = if settings.public_key.is_empty() {
        let path = PathBuf::from(&settings.public_key_file);
        std::fs::read_to_string(&path).map_err(|source| KeyError::Read { path, source })?
    } else {
        settings.public_key.clone()
    };
    verifying_key_from_public_pem(&kid, algorithm, &pem)
}
