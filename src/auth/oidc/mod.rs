//! Sign-in through external identity providers: OpenID Connect with discovery (Google,
//! Microsoft Entra ID, Okta, Auth0, Keycloak, ...), Sign in with Apple, and GitHub's OAuth 2.0.
//! Every flow is the authorization-code flow with PKCE (S256), a server-side single-use
//! state and, for OpenID Connect, a nonce bound into the ID token.

mod apple;
pub mod binding;
mod discovery;
mod github;
mod openid;

use std::collections::BTreeMap;
use std::time::Duration;

use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

use crate::config::{OidcSettings, ProviderSettings};
use crate::errors::{ApiError, ApiResult};
use discovery::MetadataCache;

/// What a provider vouched for, after the code exchange and all checks.
#[derive(Debug, Clone)]
pub struct ProviderIdentity {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

/// The secrets of one authorize request, stored server-side until its callback.
pub struct AuthorizeRequest {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: SecretString,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    OpenId,
    Apple,
    GitHub,
}

pub struct Provider {
    pub id: String,
    pub display_name: String,
    kind: Kind,
    settings: ProviderSettings,
    metadata: MetadataCache,
}

/// The configured providers and the HTTP client they share.
pub struct Providers {
    providers: BTreeMap<String, Provider>,
    http: reqwest::Client,
}

impl Providers {
    pub fn new(settings: &OidcSettings) -> Result<Self, String> {
        // No redirects: a provider endpoint that redirects elsewhere is not followed (SSRF).
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(settings.http_timeout_secs))
            .connect_timeout(Duration::from_secs(settings.http_timeout_secs))
            .build()
            .map_err(|e| format!("oidc: HTTP client: {e}"))?;
        let ttl = Duration::from_secs(settings.metadata_ttl_secs);
        let providers = settings
            .providers
            .iter()
            .map(|(id, config)| {
                let kind = match config.kind.as_str() {
                    "apple" => Kind::Apple,
                    "github" => Kind::GitHub,
                    _ => Kind::OpenId,
                };
                let mut config = config.clone();
                apply_kind_defaults(kind, &mut config);
                let display_name = if config.display_name.is_empty() {
                    default_display_name(id)
                } else {
                    config.display_name.clone()
                };
                let provider = Provider {
                    id: id.clone(),
                    display_name,
                    kind,
                    metadata: MetadataCache::new(&config.issuer, ttl),
                    settings: config,
                };
                (id.clone(), provider)
            })
            .collect();
        Ok(Self { providers, http })
    }

    pub fn list(&self) -> impl Iterator<Item = &Provider> {
        self.providers.values()
    }

    pub fn get(&self, id: &str) -> ApiResult<&Provider> {
        self.providers
            .get(id)
            .ok_or_else(|| ApiError::unknown_provider(id))
    }

    /// The provider's authorization URL for a new request, with fresh state, nonce and PKCE.
    pub async fn authorize(
        &self,
        provider: &Provider,
        redirect_uri: &str,
    ) -> ApiResult<AuthorizeRequest> {
        let request = AuthorizeRequest {
            url: String::new(),
            state: random_token(),
            nonce: random_token(),
            pkce_verifier: SecretString::from(random_token()),
        };
        let url = match provider.kind {
            Kind::GitHub => github::authorize_url(&provider.settings, redirect_uri, &request)?,
            Kind::OpenId | Kind::Apple => {
                let metadata = provider.metadata.get(&self.http, false).await?;
                openid::authorize_url(provider, &metadata, redirect_uri, &request)?
            }
        };
        Ok(AuthorizeRequest { url, ..request })
    }

    /// Exchanges the code and validates what comes back.
    pub async fn exchange(
        &self,
        provider: &Provider,
        code: &str,
        redirect_uri: &str,
        nonce: &str,
        pkce_verifier: &str,
    ) -> ApiResult<ProviderIdentity> {
        match provider.kind {
            Kind::GitHub => {
                github::exchange(
                    &self.http,
                    &provider.settings,
                    code,
                    redirect_uri,
                    pkce_verifier,
                )
                .await
            }
            Kind::OpenId | Kind::Apple => {
                let secret = match provider.kind {
                    Kind::Apple => apple::client_secret(&provider.settings)?,
                    _ => provider.settings.client_secret.clone(),
                };
                let exchange = openid::Exchange {
                    provider,
                    client_secret: secret,
                    code,
                    redirect_uri,
                    nonce,
                    pkce_verifier,
                };
                openid::exchange(&self.http, exchange).await
            }
        }
    }
}

fn apply_kind_defaults(kind: Kind, config: &mut ProviderSettings) {
    let default_scopes: &[&str] = match kind {
        Kind::OpenId => &["openid", "email", "profile"],
        Kind::Apple => &["openid", "email", "name"],
        Kind::GitHub => &["read:user", "user:email"],
    };
    if config.scopes.is_empty() {
        config.scopes = default_scopes.iter().map(|s| (*s).to_owned()).collect();
    }
    if kind == Kind::Apple && config.issuer.is_empty() {
        config.issuer = "https://appleid.apple.com".into();
    }
    if kind == Kind::GitHub {
        github::apply_defaults(config);
    }
}

fn default_display_name(id: &str) -> String {
    match id {
        "github" => "GitHub".into(),
        "okta" => "Okta".into(),
        "microsoft" | "entra" | "azure" => "Microsoft".into(),
        other => {
            let mut chars = other.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        }
    }
}

/// 256 random bits, base64url: state, nonce and PKCE verifier (43 characters, within the
/// 43-128 that RFC 7636 allows).
fn random_token() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn expose(secret: &SecretString) -> &str {
    secret.expose_secret()
}
