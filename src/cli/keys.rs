//! `authd keys`: signing keys.

use std::path::PathBuf;

use clap::Subcommand;
use secrecy::ExposeSecret;

use super::CliResult;
use crate::auth::keys::{self, parse_algorithm};

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
    /// The keys authd would load: the one that signs and those that only verify, and whether
    /// the JWKS publishes each (HS256 secrets never are). Creates nothing.
    List {
        /// One JSON object per key, for scripts.
        #[arg(long)]
        json: bool,
    },
}

pub fn list(json: bool) -> CliResult {
    let mut settings = crate::config::Settings::load().map_err(|e| e.to_string())?;
    // Listing must not create the development key as a side effect.
    settings.jwt.generate_key = false;
    let target =
        crate::db::DbTarget::parse(secrecy::ExposeSecret::expose_secret(&settings.database.url))?;
    let key_dir = target.sqlite_dir().unwrap_or(std::path::Path::new("data"));
    let ring = keys::KeyRing::load(&settings.jwt, key_dir).map_err(|e| e.to_string())?;
    let rows = ring.verifying.iter().map(|key| {
        let state = if key.kid == ring.signing.kid {
            "signing"
        } else {
            "verifying"
        };
        (
            key.kid.as_str(),
            format!("{:?}", key.algorithm),
            state,
            key.public_jwk.is_some(),
        )
    });
    if json {
        for (kid, algorithm, state, published) in rows {
            let row = serde_json::json!({
                "kid": kid, "algorithm": algorithm, "state": state, "published": published,
            });
            println!("{row}");
        }
        return Ok(());
    }
    println!(
        "{:<45}  {:<9}  {:<9}  PUBLISHED",
        "KID", "ALGORITHM", "STATE"
    );
    for (kid, algorithm, state, published) in rows {
        let published = if published { "yes" } else { "no" };
        println!("{kid:<45}  {algorithm:<9}  {state:<9}  {published}");
    }
    Ok(())
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
