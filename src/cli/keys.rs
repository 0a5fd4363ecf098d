//! `authd keys`: signing keys.

use std::path::PathBuf;

use clap::Subcommand;
use secrecy::ExposeSecret as _;

use super::CliResult;
use crate::auth::keys::rotation::{self, Trigger};
use crate::auth::keys::schedule::{reload_interval_secs, Lifetimes};
use crate::auth::keys::sealed::KeyEncryptionKey;
use crate::auth::keys::snapshot::{stored_keys, views};
use crate::auth::keys::{self, parse_algorithm, KeyRing};
use crate::config::Settings;
use crate::db::DbTarget;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Generate a private key (PKCS#8 PEM; a random secret for HS256).
    Generate {
        /// EdDSA, ES256, RS256 or HS256.
        #[arg(long, default_value = "EdDSA")]
        algorithm: String,
        /// Write the key to this file (mode 0600) and the public key beside it as FILE.pub;
        /// without it the private key goes to standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// With --out: keep an existing FILE and exit 0 instead of refusing. Safe when several
        /// processes race to create the same key; one key wins and all of them keep it.
        #[arg(long, requires = "out")]
        if_missing: bool,
    },
    /// Every key authd would use: the configured ones and those in the database, with their
    /// state (pending, signing, verifying, retired, expired), their times, and whether the
    /// JWKS publishes them (HS256 secrets never are). Creates nothing.
    List {
        /// One JSON object per key, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Make the next signing key in the database: published at once, signing after
    /// jwt.key_prepublish_secs, when the current key retires. Refused while a key is still
    /// waiting to sign. Running servers pick it up without a restart.
    Rotate {
        /// The new key as one JSON object, for scripts.
        #[arg(long)]
        json: bool,
    },
}

/// The settings, the configured keys (never generating the development key as a side
/// effect), and where a generated key-encryption key would live.
fn configured_keys() -> Result<(Settings, KeyRing, PathBuf), String> {
    let mut settings = Settings::load().map_err(|e| e.to_string())?;
    settings.jwt.generate_key = false;
    let target = DbTarget::parse(settings.database.url.expose_secret())?;
    let key_dir = target
        .sqlite_dir()
        .unwrap_or(std::path::Path::new("data"))
        .to_path_buf();
    let ring = KeyRing::load(&settings.jwt, &key_dir).map_err(|e| e.to_string())?;
    Ok((settings, ring, key_dir))
}

fn lifetimes(settings: &Settings) -> Lifetimes {
    Lifetimes::from_settings(&settings.jwt, reload_interval_secs(&settings.jwt))
}

fn rfc3339(secs: Option<i64>) -> serde_json::Value {
    secs.and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
        .map(|time| {
            serde_json::Value::String(time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        })
        .unwrap_or(serde_json::Value::Null)
}

pub fn list(json: bool) -> CliResult {
    let (settings, ring, _) = configured_keys()?;
    let target = DbTarget::parse(settings.database.url.expose_secret())?;
    // An SQLite file that does not exist holds no keys; listing does not create it.
    let stored = match &target {
        DbTarget::Sqlite(path) if !path.exists() => Vec::new(),
        _ => {
            let mut conn = super::open_connection(&settings)?;
            stored_keys(&mut conn).unwrap_or_else(|error| {
                eprintln!("authd: no database keys read ({error}); run authd migrate");
                Vec::new()
            })
        }
    };
    if ring.signing.is_none() && !stored.iter().any(|k| k.retires_at.is_none()) {
        return Err(ring
            .missing
            .clone()
            .unwrap_or_else(|| "no signing key".into()));
    }
    let lifetimes = lifetimes(&settings);
    let now = chrono::Utc::now().timestamp();
    let views = views(&ring, &stored, now, lifetimes).map_err(|e| e.to_string())?;
    if json {
        for view in &views {
            let row = serde_json::json!({
                "kid": view.key.kid,
                "algorithm": format!("{:?}", view.key.algorithm),
                "source": view.source.as_str(),
                "state": view.state.as_str(),
                "published": view.state.published() && view.key.public_jwk.is_some(),
                "activatesAt": rfc3339(view.schedule.activates_at),
                "retiresAt": rfc3339(view.schedule.retires_at),
                "unpublishedAt": rfc3339(view.schedule.unpublished_at(lifetimes)),
            });
            println!("{row}");
        }
        return Ok(());
    }
    println!(
        "{:<45}  {:<9}  {:<9}  {:<9}  {:<20}  {:<20}  SOURCE",
        "KID", "ALGORITHM", "STATE", "PUBLISHED", "SIGNS FROM", "SIGNS UNTIL"
    );
    let time = |secs: Option<i64>| match rfc3339(secs) {
        serde_json::Value::String(text) => text,
        _ => "-".into(),
    };
    for view in &views {
        let published = view.state.published() && view.key.public_jwk.is_some();
        println!(
            "{:<45}  {:<9}  {:<9}  {:<9}  {:<20}  {:<20}  {}",
            view.key.kid,
            format!("{:?}", view.key.algorithm),
            view.state.as_str(),
            if published { "yes" } else { "no" },
            time(view.schedule.activates_at),
            time(view.schedule.retires_at),
            view.source.as_str()
        );
    }
    Ok(())
}

pub fn rotate(json: bool) -> CliResult {
    let (settings, ring, key_dir) = configured_keys()?;
    let mut jwt = settings.jwt.clone();
    // The local profile's generated key-encryption key is made here if need be, as the
    // server would.
    jwt.generate_key = Settings::load()
        .map_err(|e| e.to_string())?
        .jwt
        .generate_key;
    let kek = KeyEncryptionKey::from_settings(&jwt, &key_dir)
        .map_err(|e| e.to_string())?
        .ok_or(
            "no key-encryption key: set jwt.key_encryption_key_file (or jwt.key_encryption_key) \
             to 32 random bytes in base64 (openssl rand -base64 32); database keys are stored \
             encrypted with it",
        )?;
    let mut conn = super::open_connection(&settings)?;
    super::apply_migrations(&mut conn)?;
    let rotated = rotation::rotate(
        &mut conn,
        &jwt,
        &ring,
        &kek,
        crate::db::now(),
        Trigger::Manual,
    )
    .map_err(|e| e.to_string())?
    .ok_or("no rotation happened")?;
    let activates_at = rotation::unix(rotated.activates_at);
    if json {
        let row = serde_json::json!({
            "kid": rotated.kid,
            "algorithm": format!("{:?}", rotated.algorithm),
            "activatesAt": rfc3339(Some(activates_at)),
            "retiring": rotated.retiring,
        });
        println!("{row}");
        return Ok(());
    }
    let wait = activates_at - chrono::Utc::now().timestamp();
    println!(
        "created the {:?} key {}: published now, signing from {} (in {} s)",
        rotated.algorithm,
        rotated.kid,
        time_text(activates_at),
        wait.max(0)
    );
    let leaves = activates_at.saturating_add(lifetimes(&settings).published_after_retirement);
    let mut retiring = rotated.retiring.clone();
    if let Some(signing) = ring.signing.as_ref().filter(|_| retiring.is_empty()) {
        retiring.push(signing.kid.clone());
    }
    for kid in retiring {
        println!(
            "{kid} stops signing then and leaves the JWKS at {}",
            time_text(leaves)
        );
    }
    Ok(())
}

fn time_text(secs: i64) -> String {
    match rfc3339(Some(secs)) {
        serde_json::Value::String(text) => text,
        _ => secs.to_string(),
    }
}

pub fn generate(algorithm: &str, out: Option<PathBuf>, if_missing: bool) -> CliResult {
    let algorithm = parse_algorithm(algorithm).map_err(|e| e.to_string())?;
    let private = keys::generate_private_key(algorithm).map_err(|e| e.to_string())?;
    let Some(path) = out else {
        print!("{}", private.expose_secret());
        return Ok(());
    };
    match keys::write_private_file(&path, private.expose_secret()) {
        Err(keys::KeyError::Write { source, .. })
            if if_missing && source.kind() == std::io::ErrorKind::AlreadyExists =>
        {
            println!("kept the existing key at {}", path.display());
            return Ok(());
        }
        written => written.map_err(|e| e.to_string())?,
    }
    if algorithm == jsonwebtoken::Algorithm::HS256 {
        println!(
            "wrote an HS256 secret to {}; set jwt.secret to its contents",
            path.display()
        );
        return Ok(());
    }
    let public =
        keys::public_key_pem(algorithm, private.expose_secret()).map_err(|e| e.to_string())?;
    let public_path = PathBuf::from(format!("{}.pub", path.display()));
    std::fs::write(&public_path, public).map_err(|e| format!("{}: {e}", public_path.display()))?;
    println!(
        "wrote a {algorithm:?} private key to {} (mode 0600) and its public key to {}\n\
         set jwt.algorithm = \"{algorithm:?}\" and jwt.private_key_file = \"{}\"",
        path.display(),
        public_path.display(),
        path.display()
    );
    Ok(())
}
