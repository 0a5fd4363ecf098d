//! `RemoteVerifier`: a `TokenVerifier` whose keys come from authd's JWKS over HTTP.
//!
//! - An unknown `kid` refetches the key set, at most once per `refetch_interval` (10 s by
//!   default): within that time further unknown kids are refused at once, so a flood of
//!   made-up kids costs no requests to authd.
//! - A failed refetch keeps the keys it had: tokens keep verifying while authd is briefly down.
//! - Optionally it polls authd's revocation feed (see `revocations.rs`).

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;

use crate::revocations::RevocationFeed;
use crate::{AccessClaims, KeySet, TokenVerifier, VerifyError};

const DEFAULT_AUDIENCE: &str = "authd";
const DEFAULT_LEEWAY_SECS: u64 = 30;
const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// Cheap to clone: clones share the key cache and the revocation state.
#[derive(Clone)]
pub struct RemoteVerifier {
    shared: Arc<Shared>,
}

struct Shared {
    http: reqwest::Client,
    jwks_url: String,
    current: RwLock<Arc<TokenVerifier>>,
    last_fetch: Mutex<Instant>,
    refetching: tokio::sync::Mutex<()>,
    refetch_interval: Duration,
    revocations: Option<Arc<RevocationFeed>>,
}

impl std::fmt::Debug for RemoteVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteVerifier")
            .field("jwks_url", &self.shared.jwks_url)
            .field("verifier", &self.verifier())
            .field("revocations", &self.shared.revocations.is_some())
            .finish()
    }
}

pub struct RemoteVerifierBuilder {
    issuer: String,
    authd_url: Option<String>,
    jwks_url: Option<String>,
    audience: String,
    leeway_secs: u64,
    max_lifetimes: Option<(u64, u64)>,
    refetch_interval: Duration,
    revocations: Option<(String, Duration)>,
}

impl RemoteVerifier {
    /// Everything from authd's discovery document at `issuer` (authd's `jwt.issuer`), with
    /// authd's default audience (`authd`) and leeway (30 s).
    pub async fn from_discovery(issuer: &str) -> Result<Self, VerifyError> {
        Self::builder(issuer).build().await
    }

    /// Keys from `jwks_url`; tokens must carry `issuer` and `audience`.
    pub async fn from_jwks_url(
        jwks_url: &str,
        issuer: &str,
        audience: &str,
    ) -> Result<Self, VerifyError> {
        Self::builder(issuer)
            .jwks_url(jwks_url)
            .audience(audience)
            .build()
            .await
    }

    pub fn builder(issuer: &str) -> RemoteVerifierBuilder {
        RemoteVerifierBuilder {
            issuer: issuer.to_owned(),
            authd_url: None,
            jwks_url: None,
            audience: DEFAULT_AUDIENCE.to_owned(),
            leeway_secs: DEFAULT_LEEWAY_SECS,
            max_lifetimes: None,
            refetch_interval: DEFAULT_REFETCH_INTERVAL,
            revocations: None,
        }
    }

    /// The verifier of the keys fetched last.
    pub fn verifier(&self) -> Arc<TokenVerifier> {
        match self.shared.current.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Verifies an access token: signature and claims offline, then, with the revocation feed
    /// on, that its session was not revoked and its user has no later "not before".
    pub async fn verify_access(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        let claims = match self.verifier().verify_access(token) {
            Err(VerifyError::UnknownKey) => {
                self.refetch_if_allowed().await;
                self.verifier().verify_access(token)?
            }
            other => other?,
        };
        if let Some(feed) = &self.shared.revocations {
            feed.check(&claims)?;
        }
        Ok(claims)
    }

    /// Refetches the key set unless that happened within `refetch_interval`. Concurrent
    /// callers share one fetch.
    async fn refetch_if_allowed(&self) {
        let started = Instant::now();
        let _single = self.shared.refetching.lock().await;
        let last = *self
            .shared
            .last_fetch
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // Someone fetched while this caller waited, or too recently: use what there is.
        if last >= started || last.elapsed() < self.shared.refetch_interval {
            return;
        }
        *self
            .shared
            .last_fetch
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Instant::now();
        match fetch_keys(&self.shared.http, &self.shared.jwks_url).await {
            Ok(keys) => {
                let next = Arc::new(self.verifier().with_keys(keys));
                match self.shared.current.write() {
                    Ok(mut current) => *current = next,
                    Err(poisoned) => *poisoned.into_inner() = next,
                }
            }
            Err(error) => log::warn!("authd-verify: keeping the cached keys: {error}"),
        }
    }
}

impl RemoteVerifierBuilder {
    /// Where this service reaches authd, when that is not the issuer URL (authd by its name
    /// inside a cluster, say): the keys are fetched at `<authd_url>/.well-known/jwks.json`
    /// (no discovery) and the revocation feed at `<authd_url>/api/auth/revocations`.
    pub fn authd_url(mut self, url: &str) -> Self {
        self.authd_url = Some(url.trim_end_matches('/').to_owned());
        self
    }

    /// Skip discovery and fetch the keys here.
    pub fn jwks_url(mut self, url: &str) -> Self {
        self.jwks_url = Some(url.to_owned());
        self
    }

    pub fn audience(mut self, audience: &str) -> Self {
        self.audience = audience.to_owned();
        self
    }

    pub fn leeway_secs(mut self, secs: u64) -> Self {
        self.leeway_secs = secs;
        self
    }

    /// authd's `jwt.access_ttl_secs` and `jwt.refresh_ttl_secs`: longer-lived tokens are refused.
    pub fn max_lifetimes(mut self, access_secs: u64, refresh_secs: u64) -> Self {
        self.max_lifetimes = Some((access_secs, refresh_secs));
        self
    }

    /// The least time between two refetches for unknown kids.
    pub fn refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// Poll authd's revocation feed every `interval` with this service credential (from
    /// `authd services new-token`), so a revoked session's tokens are refused within about
    /// `interval` instead of at their expiry.
    pub fn poll_revocations(mut self, service_secret: &str, interval: Duration) -> Self {
        self.revocations = Some((service_secret.to_owned(), interval));
        self
    }

    /// Fetches discovery (unless a JWKS URL was given) and the key set; with
    /// `poll_revocations`, reads the feed once and starts polling it on the current tokio
    /// runtime (the task ends when the last clone of the verifier is dropped).
    pub async fn build(self) -> Result<RemoteVerifier, VerifyError> {
        let unavailable = |e: String| VerifyError::KeysUnavailable(e);
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| unavailable(e.to_string()))?;
        let base = self
            .authd_url
            .clone()
            .unwrap_or_else(|| self.issuer.trim_end_matches('/').to_owned());
        let jwks_url = match (self.jwks_url, &self.authd_url) {
            (Some(url), _) => url,
            (None, Some(authd)) => format!("{authd}/.well-known/jwks.json"),
            (None, None) => discover_jwks_url(&http, &self.issuer).await?,
        };
        let keys = fetch_keys(&http, &jwks_url).await.map_err(unavailable)?;
        let mut verifier = TokenVerifier::new(keys, &self.issuer, &self.audience, self.leeway_secs);
        if let Some((access, refresh)) = self.max_lifetimes {
            verifier = verifier.with_max_lifetimes(access, refresh);
        }
        let revocations = match self.revocations {
            Some((secret, interval)) => {
                let url = format!("{base}/api/auth/revocations");
                let feed = Arc::new(RevocationFeed::new(http.clone(), url, secret));
                feed.poll_once().await.map_err(unavailable)?;
                RevocationFeed::keep_polling(Arc::downgrade(&feed), interval);
                Some(feed)
            }
            None => None,
        };
        Ok(RemoteVerifier {
            shared: Arc::new(Shared {
                http,
                jwks_url,
                current: RwLock::new(Arc::new(verifier)),
                last_fetch: Mutex::new(Instant::now()),
                refetching: tokio::sync::Mutex::new(()),
                refetch_interval: self.refetch_interval,
                revocations,
            }),
        })
    }
}

/// The `jwks_uri` of the discovery document at `issuer`, which must name that issuer.
async fn discover_jwks_url(http: &reqwest::Client, issuer: &str) -> Result<String, VerifyError> {
    let unavailable = |e: String| VerifyError::KeysUnavailable(e);
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let document: serde_json::Value = get_json(http, &url).await.map_err(unavailable)?;
    if document["issuer"].as_str() != Some(issuer) {
        return Err(unavailable(format!(
            "{url} names the issuer {}, not {issuer}",
            document["issuer"]
        )));
    }
    document["jwks_uri"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| unavailable(format!("{url} has no jwks_uri")))
}

async fn fetch_keys(http: &reqwest::Client, url: &str) -> Result<KeySet, String> {
    let jwks: JwkSet = get_json(http, url).await?;
    Ok(KeySet::from_jwks(&jwks))
}

pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, String> {
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("{url}: HTTP {}", response.status()));
    }
    response.json().await.map_err(|e| format!("{url}: {e}"))
}
