//! PEM keys: generating them, reading the private half, deriving the public half, and writing
//! secret files.

use std::io::Write;
use std::path::Path;

use jsonwebtoken::{Algorithm, EncodingKey};
use secrecy::SecretString;

use super::KeyError;

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

pub fn encoding_key_from_pem(algorithm: Algorithm, pem: &str) -> Result<EncodingKey, String> {
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
