//! Private keys at rest: sealed with XChaCha20-Poly1305 under the key-encryption key, with the
//! kid as associated data, so a sealed key moved to another row does not open. A random 24-byte
//! nonce per seal is safe for XChaCha (no counter to keep).

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};

use super::pem::write_private_file;
use super::KeyError;
use crate::config::JwtSettings;

const GENERATED_KEK_FILE: &str = "authd-key-encryption.key";
/// The format marker of a sealed value; a later format gets another.
const SEALED_PREFIX: &str = "v1.";

/// The key-encryption key. `Debug` shows nothing of it.
pub struct KeyEncryptionKey(XChaCha20Poly1305);

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyEncryptionKey(..)")
    }
}

impl KeyEncryptionKey {
    /// From `jwt.key_encryption_key` or `jwt.key_encryption_key_file`. With neither, and
    /// `jwt.generate_key` on (the local profile), one is generated beside the development
    /// signing key and reused; otherwise `None`: database keys cannot be used.
    pub fn from_settings(
        jwt: &JwtSettings,
        generated_dir: &Path,
    ) -> Result<Option<Self>, KeyError> {
        let configured = jwt.key_encryption_key.expose_secret();
        if !configured.is_empty() {
            return Self::parse(configured).map(Some);
        }
        let (path, generate) = if jwt.key_encryption_key_file.is_empty() {
            (generated_dir.join(GENERATED_KEK_FILE), jwt.generate_key)
        } else {
            (PathBuf::from(&jwt.key_encryption_key_file), false)
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text).map(Some),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && generate => {
                let written =
                    write_private_file(&path, generate_key_encryption_key().expose_secret());
                match written {
                    // Another process generated it first: use theirs.
                    Err(KeyError::Write { source, .. })
                        if source.kind() == std::io::ErrorKind::AlreadyExists => {}
                    other => other?,
                }
                let text = std::fs::read_to_string(&path).map_err(|source| KeyError::Read {
                    path: path.clone(),
                    source,
                })?;
                Self::parse(&text).map(Some)
            }
            Err(error)
                if error.kind() == std::io::ErrorKind::NotFound
                    && jwt.key_encryption_key_file.is_empty() =>
            {
                Ok(None)
            }
            Err(source) => Err(KeyError::Read { path, source }),
        }
    }

    /// 32 bytes in base64 (standard or URL-safe, padded or not).
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let bytes = [
            STANDARD.decode(text),
            URL_SAFE.decode(text),
            URL_SAFE_NO_PAD.decode(text),
        ]
        .into_iter()
        .find_map(Result::ok)
        .filter(|bytes| bytes.len() == 32)
        .ok_or_else(|| {
            KeyError::Missing(
                "the key-encryption key must be 32 random bytes in base64 \
                     (openssl rand -base64 32)"
                    .into(),
            )
        })?;
        let cipher = XChaCha20Poly1305::new_from_slice(&bytes)
            .map_err(|_| KeyError::Missing("the key-encryption key is not 32 bytes".into()))?;
        Ok(Self(cipher))
    }

    pub fn seal(&self, kid: &str, private_pem: &SecretString) -> Result<String, KeyError> {
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .0
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: private_pem.expose_secret().as_bytes(),
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| sealing_failed(kid, "encryption failed"))?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    pub fn open(&self, kid: &str, sealed: &str) -> Result<SecretString, KeyError> {
        let bytes = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|text| URL_SAFE_NO_PAD.decode(text).ok())
            .filter(|bytes| bytes.len() > 24)
            .ok_or_else(|| {
                sealing_failed(kid, "the stored private key is not in a known format")
            })?;
        let (nonce, sealed) = bytes.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().unwrap_or_default();
        let opened = self
            .0
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| {
                sealing_failed(
                    kid,
                    "the private key does not open with this key-encryption key \
                     (was jwt.key_encryption_key changed?)",
                )
            })?;
        String::from_utf8(opened)
            .map(SecretString::from)
            .map_err(|_| sealing_failed(kid, "the opened private key is not text"))
    }
}

fn sealing_failed(kid: &str, reason: &str) -> KeyError {
    KeyError::Invalid {
        kid: kid.to_owned(),
        reason: reason.to_owned(),
    }
}

/// A new key-encryption key, base64.
pub fn generate_key_encryption_key() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    SecretString::from(STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_opens_only_under_its_kid_and_key() {
        let kek = KeyEncryptionKey::parse(generate_key_encryption_key().expose_secret()).unwrap();
        let pem = SecretString::from("-----BEGIN PRIVATE KEY-----\nabc\n".to_owned());
        let sealed = kek.seal("k1", &pem).unwrap();
        assert!(!sealed.contains("abc"));
        assert_eq!(
            kek.open("k1", &sealed).unwrap().expose_secret(),
            pem.expose_secret()
        );
        assert!(kek.open("k2", &sealed).is_err(), "opened under another kid");
        let other = KeyEncryptionKey::parse(generate_key_encryption_key().expose_secret()).unwrap();
        assert!(
            other.open("k1", &sealed).is_err(),
            "opened under another key"
        );
        assert!(
            KeyEncryptionKey::parse("c2hvcnQ=").is_err(),
            "a short key was accepted"
        );
        assert_ne!(kek.seal("k1", &pem).unwrap(), sealed, "the nonce repeated");
    }
}
