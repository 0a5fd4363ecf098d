//! Layered settings: compiled-in defaults, files per profile, `.env`, then the environment.
//! `config/default.toml` documents every key. The safety checks are in `safety.rs`, the abuse
//! protection sections in `limits.rs`.

mod django;
mod email;
mod limits;
mod observability;
mod safety;
mod services;

pub use django::DjangoSettings;
pub use email::EmailSettings;
pub use limits::{parse_quota, LockoutSettings, Quota, RateLimitSettings};
pub use observability::{LogFormat, LogSettings, MetricsSettings};
pub use services::ServiceSettings;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

const EMBEDDED_DEFAULTS: &str = include_str!("../../config/default.toml");
/// The two built-in profiles are compiled in too, so `authd` behaves the same from any
/// working directory; files on disk still override them.
const EMBEDDED_PROFILES: &[(&str, &str)] = &[
    ("local", include_str!("../../config/local.toml")),
    ("production", include_str!("../../config/production.toml")),
];
/// Keys whose environment value is a comma-separated list.
const LIST_KEYS: &[&str] = &[
    "cors.allowed_origins",
    "oidc.allowed_redirect_uris",
    "server.trusted_proxies",
];

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// `local`, `production`, or any other profile name; set from `AUTHD_ENV`.
    #[serde(default = "default_profile")]
    pub profile: String,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub jwt: JwtSettings,
    pub password: PasswordSettings,
    pub cors: CorsSettings,
    pub local_login: LocalLoginSettings,
    pub oidc: OidcSettings,
    pub rate_limit: RateLimitSettings,
    pub lockout: LockoutSettings,
    pub email: EmailSettings,
    #[serde(default)]
    pub services: BTreeMap<String, ServiceSettings>,
    pub audit: AuditSettings,
    pub api_keys: ApiKeySettings,
    pub log: LogSettings,
    pub metrics: MetricsSettings,
    pub django: DjangoSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiKeySettings {
    /// How long a replica keeps a key it looked up; a revocation made on another replica
    /// takes up to this long there.
    pub cache_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuditSettings {
    /// `flush-expired` deletes audit events older than this; 0 keeps them forever.
    pub retention_days: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LocalLoginSettings {
    /// Off: SSO-only mode; register, password login and password change answer 403.
    pub enabled: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OidcSettings {
    pub allowed_redirect_uris: Vec<String>,
    /// Compatibility: flows not bound to the browser (and links not bound to the user).
    pub allow_unbound_flows: bool,
    pub link_verified_email: bool,
    pub state_ttl_secs: u64,
    pub http_timeout_secs: u64,
    pub metadata_ttl_secs: u64,
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderSettings>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProviderSettings {
    /// `oidc` (anything with discovery), `apple` or `github`.
    #[serde(default = "default_provider_kind")]
    pub kind: String,
    #[serde(default)]
    pub issuer: String,
    pub client_id: String,
    #[serde(default = "empty_secret")]
    pub client_secret: SecretString,
    /// A list, or one string of scopes separated by spaces or commas (handy in the environment).
    #[serde(default, deserialize_with = "scopes")]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub display_name: String,
    /// Apple: the team and key that sign the client secret, and the key itself (PKCS#8 PEM).
    #[serde(default)]
    pub team_id: String,
    #[serde(default)]
    pub key_id: String,
    #[serde(default = "empty_secret")]
    pub private_key: SecretString,
    #[serde(default)]
    pub private_key_file: String,
    /// GitHub: endpoints, overridable for GitHub Enterprise.
    #[serde(default)]
    pub authorization_url: String,
    #[serde(default)]
    pub token_url: String,
    #[serde(default)]
    pub api_url: String,
}

fn default_provider_kind() -> String {
    "oidc".to_owned()
}

fn scopes<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scopes {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Scopes::deserialize(deserializer)? {
        Scopes::List(list) => list,
        Scopes::Text(text) => text
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub workers: usize,
    pub shutdown_timeout_secs: u64,
    /// Proxies (CIDRs) whose `Forwarded` / `X-Forwarded-For` headers are believed.
    pub trusted_proxies: Vec<String>,
    /// A request body must arrive within this many seconds of its headers.
    pub body_timeout_secs: u64,
    /// Open connections across all workers.
    pub max_connections: usize,
    /// Requests of one client address in progress at once.
    pub max_concurrent_requests_per_ip: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub max_connections: u32,
    pub connect_timeout_secs: u64,
    pub run_migrations: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JwtSettings {
    pub algorithm: String,
    pub issuer: String,
    pub audience: String,
    pub access_ttl_secs: u64,
    pub refresh_ttl_secs: u64,
    pub leeway_secs: u64,
    pub refresh_reuse_grace_secs: u64,
    pub session_max_secs: u64,
    pub session_idle_secs: u64,
    /// Ignored: retries are bounded by the grace window alone (see `ReusePolicy`). Kept so
    /// that configurations which set it still load.
    #[serde(default)]
    pub refresh_reuse_max_replays: u32,
    pub private_key_file: String,
    pub private_key: SecretString,
    pub secret: SecretString,
    pub kid: String,
    pub generate_key: bool,
    pub verification_keys: Vec<VerificationKeySettings>,
    /// How long services may cache the JWKS and discovery document (`Cache-Control: max-age`).
    /// A new key must be published at least this long before it signs.
    pub jwks_max_age_secs: u64,
    /// Database keys (`authd keys rotate`): how long a new key is published before it signs.
    /// Unset: `jwks_max_age_secs + 60`.
    #[serde(default)]
    pub key_prepublish_secs: Option<u64>,
    /// Rotate the signing key this often (fractions allowed); 0 turns automatic rotation off.
    pub auto_rotate_days: f64,
    /// How often each replica reads the database keys again.
    pub key_reload_secs: u64,
    /// The key that encrypts database private keys at rest: 32 bytes, base64. Or a file
    /// holding it.
    pub key_encryption_key: SecretString,
    pub key_encryption_key_file: String,
}

impl JwtSettings {
    pub fn key_prepublish_secs(&self) -> u64 {
        self.key_prepublish_secs
            .unwrap_or(self.jwks_max_age_secs.saturating_add(60))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct VerificationKeySettings {
    pub kid: String,
    pub algorithm: String,
    #[serde(default)]
    pub public_key_file: String,
    #[serde(default)]
    pub public_key: String,
    /// HS256 only.
    #[serde(default = "empty_secret")]
    pub secret: SecretString,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PasswordSettings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    pub max_concurrent_hashes: usize,
    pub queue_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CorsSettings {
    pub allowed_origins: Vec<String>,
    pub max_age_secs: usize,
}

fn default_profile() -> String {
    "local".to_owned()
}

fn empty_secret() -> SecretString {
    SecretString::from(String::new())
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("unsafe configuration for the {profile} profile:\n  - {}", problems.join("\n  - "))]
    Unsafe {
        profile: String,
        problems: Vec<String>,
    },
}

/// Where settings come from; tests turn the environment off so a developer's shell cannot leak in.
pub struct Sources<'a> {
    pub profile: &'a str,
    pub config_dir: Option<&'a Path>,
    pub environment: bool,
}

impl Settings {
    /// The settings a deployed authd runs with: profile from `AUTHD_ENV`, files from
    /// `AUTHD_CONFIG_DIR` (default `config`), `.env`, then the environment.
    pub fn load() -> Result<Self, SettingsError> {
        let settings = Self::load_unchecked()?;
        settings.check_safety()?;
        Ok(settings)
    }

    /// The same layers without the safety checks, for commands that only need to find the
    /// server (`authd healthcheck`), not run one.
    pub fn load_unchecked() -> Result<Self, SettingsError> {
        // A missing .env is the normal case; a malformed one should not be silently ignored.
        if let Err(error) = dotenvy::dotenv() {
            if !error.not_found() {
                log::warn!(
                    "ignoring the rest of .env: {}",
                    describe_dotenv_error(&error)
                );
            }
        }
        let profile = std::env::var("AUTHD_ENV").unwrap_or_else(|_| default_profile());
        let dir =
            PathBuf::from(std::env::var("AUTHD_CONFIG_DIR").unwrap_or_else(|_| "config".into()));
        Self::from_sources(Sources {
            profile: &profile,
            config_dir: Some(&dir),
            environment: true,
        })
    }

    pub fn from_sources(sources: Sources<'_>) -> Result<Self, SettingsError> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(
                EMBEDDED_DEFAULTS,
                config::FileFormat::Toml,
            ))
            .set_override("profile", sources.profile)?;
        if let Some((_, text)) = EMBEDDED_PROFILES
            .iter()
            .find(|(name, _)| *name == sources.profile)
        {
            builder = builder.add_source(config::File::from_str(text, config::FileFormat::Toml));
        }
        if let Some(dir) = sources.config_dir {
            for name in ["default", sources.profile] {
                builder = builder.add_source(
                    config::File::with_name(&dir.join(name).to_string_lossy()).required(false),
                );
            }
        }
        if sources.environment {
            let mut environment = config::Environment::with_prefix("AUTHD")
                .prefix_separator("__")
                .separator("__")
                .list_separator(",")
                .try_parsing(true);
            for key in LIST_KEYS {
                environment = environment.with_list_parse_key(key);
            }
            builder = builder.add_source(environment);
            // The conventional names, unless the specific AUTHD__ form is set.
            if std::env::var_os("AUTHD__DATABASE__URL").is_none() {
                builder = builder
                    .set_override_option("database.url", std::env::var("DATABASE_URL").ok())?;
            }
            if std::env::var_os("AUTHD__SERVER__PORT").is_none() {
                builder = builder.set_override_option("server.port", std::env::var("PORT").ok())?;
            }
        }
        Ok(builder.build()?.try_deserialize()?)
    }

    /// Every profile but the developer's `local` one is held to the production rules: a
    /// deployment named `staging` or `prod` must not run with a wildcard origin or a
    /// generated key just because its profile is not spelled `production`.
    pub fn is_production(&self) -> bool {
        self.profile != "local"
    }
}

/// dotenvy's parse error quotes the whole line, which may be a secret (`PASSWORD x`).
fn describe_dotenv_error(error: &dotenvy::Error) -> String {
    match error {
        dotenvy::Error::LineParse(line, position) => format!(
            "a line of {} characters cannot be parsed at character {position} \
             (not shown: it may hold a secret)",
            line.chars().count()
        ),
        dotenvy::Error::EnvVar(_) => "a value is not valid Unicode".to_owned(),
        other => other.to_string(),
    }
}
