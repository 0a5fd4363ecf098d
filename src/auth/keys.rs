//! Signing and verification keys: loading PEM files, generating keys, and the public JWKS.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
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
}

/// A key that verifies tokens: the signing key's public half, or an older key kept for rotation.
pub struct VerifyingKey {
    pub kid: String,
    pub algorithm: Algorithm,
    pub decoding: DecodingKey,
    /// The public JWK; `None` for HS256, whose secret is never published.
    pub public_jwk: Option<Jwk>,
}

pub struct KeyRing {
    pub signing: SigningKey,
    pub verifying: Vec<VerifyingKey>,
}

impl KeyRing {
    /// Loads the configured keys. With no key configured and `generate_key` on, an Ed25519 key
    /// is generated once into `generated_key_dir` and reused on every later start.
    pub fn load(jwt: &JwtSettings, generated_key_dir: &Path) -> Result<Self, KeyError> {
        let algorithm = parse_algorithm(&jwt.algorithm)?;
        let (encoding, public_jwk, decoding) = if algorithm == Algorithm::HS256 {
            let secret = jwt.secret.expose_secret().as_bytes();
            if secret.is_empty() {
                return Err(KeyError::Missing(
                    "jwt.algorithm is HS256 but jwt.secret is empty".into(),
                ));
            }
            (
                EncodingKey::from_secret(secret),
                None,
                DecodingKey::from_secret(secret),
            )
        } else {
            let pem = private_key_pem(jwt, algorithm, generated_key_dir)?;
            let invalid = |reason: String| KeyError::Invalid {
                kid: "signing".into(),
                reason,
            };
            let encoding = encoding_key_from_pem(algorithm, pem.expose_secret())
                .map_err(|e| invalid(format!("not a PKCS#8 PEM {algorithm:?} private key: {e}")))?;
            let jwk =
                Jwk::from_encoding_key(&encoding, algorithm).map_err(|e| invalid(e.to_string()))?;
            let decoding = DecodingKey::from_jwk(&jwk).map_err(|e| invalid(e.to_string()))?;
            (encoding, Some(jwk), decoding)
        };
        let kid = match (&jwt.kid, &public_jwk) {
            (kid, _) if !kid.is_empty() => kid.clone(),
            (_, Some(jwk)) => {
                jwk.thumbprint(ThumbprintHash::SHA256)
                    .map_err(|e| KeyError::Invalid {
                        kid: "signing".into(),
                        reason: e.to_string(),
                    })?
            }
            (_, None) => "hs256".into(),
        };
        let mut verifying = vec![VerifyingKey {
            kid: kid.clone(),
            algorithm,
            decoding,
            public_jwk: public_jwk.map(|jwk| published(jwk, &kid, algorithm)),
        }];
        for extra in &jwt.verification_keys {
            let key = load_verifying_key(extra)?;
            // Verification picks the key by kid; a second key under the same kid would shadow
            // the first, and every token of the shadowed key would fail (e.g. a rotation that
            // kept a fixed jwt.kid for the new key).
            if verifying.iter().any(|known| known.kid == key.kid) {
                return Err(KeyError::Invalid {
                    kid: key.kid,
                    reason: "more than one key has this kid; every key needs its own \
                             (set jwt.kid, or leave it empty for the key's thumbprint)"
                        .into(),
                });
            }
            verifying.push(key);
        }
        Ok(KeyRing {
            signing: SigningKey {
                kid,
                algorithm,
                encoding,
            },
            verifying,
        })
    }

    /// Every public key, for `/.well-known/jwks.json`.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self
                .verifying
                .iter()
                .filter_map(|key| key.public_jwk.clone())
                .collect(),
        }
    }
}

fn published(mut jwk: Jwk, kid: &str, algorithm: Algorithm) -> Jwk {
    jwk.common.key_id = Some(kid.to_owned());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    jwk.common.key_algorithm = Some(algorithm.into());
    jwk
}

fn private_key_pem(
    jwt: &JwtSettings,
    algorithm: Algorithm,
    generated_key_dir: &Path,
) -> Result<SecretString, KeyError> {
    if !jwt.private_key.expose_secret().is_empty() {
        return Ok(jwt.private_key.clone());
    }
    let path = if jwt.private_key_file.is_empty() {
        generated_key_dir.join(GENERATED_KEY_FILE)
    } else {
        PathBuf::from(&jwt.private_key_file)
    };
    match std::fs::read_to_string(&path) {
        Ok(pem) => Ok(SecretString::from(pem)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && jwt.generate_key => {
            let pem = generate_private_key(algorithm)?;
            write_private_file(&path, pem.expose_secret())?;
            log::info!(
                "generated a new {algorithm:?} signing key at {}",
                path.display()
            );
            Ok(pem)
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

/// Writes a secret file readable by its owner only, refusing to replace an existing one
/// (`ErrorKind::AlreadyExists`). The file appears whole or not at all: it is written under a
/// temporary name and then hard-linked into place, so a replica starting beside
/// `keys generate --if-missing` never reads half a key, and of two racing writers one wins.
pub fn write_private_file(path: &Path, contents: &str) -> Result<(), KeyError> {
    use std::os::unix::fs::OpenOptionsExt;
    let write_error = |source| KeyError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).map_err(write_error)?;
    }
    let file_name = path.file_name().unwrap_or_default().to_string_lossy();
    let temporary = dir.unwrap_or(Path::new(".")).join(format!(
        ".{file_name}.{}.tmp",
        uuid::Uuid::new_v4().simple()
    ));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .and_then(|mut file| {
            file.write_all(contents.as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| std::fs::hard_link(&temporary, path));
    let _ = std::fs::remove_file(&temporary);
    written.map_err(write_error)
}

pub(crate) fn encoding_key_from_pem(
    algorithm: Algorithm,
    pem: &str,
) -> Result<EncodingKey, String> {
    match algorithm {
        Algorithm::EdDSA => Ok(EncodingKey::from_ed_der(&ed25519_v1_der(pem)?)),
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()).map_err(|e| e.to_string()),
        _ => EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| e.to_string()),
    }
}

/// jsonwebtoken reads only the 48-byte PKCS#8 v1 form of an Ed25519 key; OpenSSL writes that,
/// but other tools add the public key (v2). Re-encoding accepts both.
fn ed25519_v1_der(pem: &str) -> Result<Vec<u8>, String> {
    use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
    let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem).map_err(|e| e.to_string())?;
    let v1 = ed25519_dalek::pkcs8::KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    };
    let der = v1.to_pkcs8_der().map_err(|e| e.to_string())?;
    Ok(der.as_bytes().to_vec())
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
    let decoding = match algorithm {
        Algorithm::EdDSA => DecodingKey::from_ed_pem(pem.as_bytes()),
        Algorithm::ES256 => DecodingKey::from_ec_pem(pem.as_bytes()),
        _ => DecodingKey::from_rsa_pem(pem.as_bytes()),
    }
    .map_err(|e| invalid(format!("not a PEM {algorithm:?} public key: {e}")))?;
    let jwk =
        Jwk::from_decoding_key(&decoding, Some(algorithm)).map_err(|e| invalid(e.to_string()))?;
    Ok(VerifyingKey {
        kid: kid.clone(),
        algorithm,
        decoding,
        public_jwk: Some(published(jwk, &kid, algorithm)),
    })
}

/// A new private key for `algorithm`: PKCS#8 PEM for the asymmetric ones, a random
/// base64url secret of 48 bytes for HS256.
pub fn generate_private_key(algorithm: Algorithm) -> Result<SecretString, KeyError> {
    use base64::Engine as _;
    use p256::pkcs8::{EncodePrivateKey, LineEnding};
    use rand::rngs::OsRng;
    use rand::RngCore;

    let failed = |reason: String| KeyError::Invalid {
        kid: "generated".into(),
        reason,
    };
    let pem = match algorithm {
        Algorithm::EdDSA => ed25519_dalek::pkcs8::KeypairBytes {
            secret_key: ed25519_dalek::SigningKey::generate(&mut OsRng).to_bytes(),
            public_key: None,
        }
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| failed(e.to_string()))?
        .to_string(),
        Algorithm::ES256 => p256::SecretKey::random(&mut OsRng)
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| failed(e.to_string()))?
            .to_string(),
        Algorithm::RS256 => rsa::RsaPrivateKey::new(&mut OsRng, 2048)
            .map_err(|e| failed(e.to_string()))?
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| failed(e.to_string()))?
            .to_string(),
        Algorithm::HS256 => {
            let mut secret = [0u8; 48];
            OsRng.fill_bytes(&mut secret);
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
        }
        other => return Err(KeyError::Algorithm(format!("{other:?}"))),
    };
    Ok(SecretString::from(pem))
}

/// The public half of a generated PEM key, as SPKI PEM, for handing to verifying services.
pub fn public_key_pem(algorithm: Algorithm, private_pem: &str) -> Result<String, KeyError> {
    use p256::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
    let failed = |reason: String| KeyError::Invalid {
        kid: "generated".into(),
        reason,
    };
    let pem = match algorithm {
        Algorithm::EdDSA => ed25519_dalek::SigningKey::from_pkcs8_pem(private_pem)
            .map_err(|e| failed(e.to_string()))?
            .verifying_key()
            .to_public_key_pem(LineEnding::LF),
        Algorithm::ES256 => p256::SecretKey::from_pkcs8_pem(private_pem)
            .map_err(|e| failed(e.to_string()))?
            .public_key()
            .to_public_key_pem(LineEnding::LF),
        Algorithm::RS256 => rsa::RsaPrivateKey::from_pkcs8_pem(private_pem)
            .map_err(|e| failed(e.to_string()))?
            .to_public_key()
            .to_public_key_pem(LineEnding::LF),
        other => return Err(KeyError::Algorithm(format!("{other:?}"))),
    };
    pem.map_err(|e| failed(e.to_string()))
}
