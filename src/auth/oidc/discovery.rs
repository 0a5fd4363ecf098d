//! Provider metadata and signing keys, fetched lazily and cached, so authd starts (and stays
//! ready) while a provider is down. Fetched by hand rather than with `discover_async`, which
//! rejects Microsoft's multi-tenant documents whose issuer is a `{tenantid}` template.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{CoreJsonWebKeySet, CoreProviderMetadata};
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;

use crate::errors::{ApiError, ApiResult};

pub struct MetadataCache {
    issuer: String,
    ttl: Duration,
    cached: Mutex<Option<(Instant, Arc<CoreProviderMetadata>)>>,
}

/// The placeholder Microsoft puts in the issuer of its multi-tenant endpoints.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

impl MetadataCache {
    pub fn new(issuer: &str, ttl: Duration) -> Self {
        Self {
            issuer: issuer.trim_end_matches('/').to_owned(),
            ttl,
            cached: Mutex::new(None),
        }
    }

    /// The metadata with its key set; `refetch_keys` fetches the key set again (once, after
    /// an ID token named a key the cached set does not have).
    pub async fn get(
        &self,
        http: &reqwest::Client,
        refetch_keys: bool,
    ) -> ApiResult<Arc<CoreProviderMetadata>> {
        let mut cached = self.cached.lock().await;
        if let Some((fetched_at, metadata)) = cached.as_ref() {
            if fetched_at.elapsed() < self.ttl && !refetch_keys {
                return Ok(metadata.clone());
            }
        }
        let metadata = match (cached.as_ref(), refetch_keys) {
            (Some((_, metadata)), true) => (**metadata).clone(),
            _ => self.discover(http).await?,
        };
        let keys: CoreJsonWebKeySet =
            fetch_json(http, metadata.jwks_uri().url().as_str(), "key set").await?;
        let metadata = Arc::new(metadata.set_jwks(keys));
        *cached = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    async fn discover(&self, http: &reqwest::Client) -> ApiResult<CoreProviderMetadata> {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let metadata: CoreProviderMetadata = fetch_json(http, &url, "discovery").await?;
        let advertised = metadata.issuer().as_str().trim_end_matches('/');
        // Discovery must describe the configured issuer (OpenID Discovery §4.3), except that a
        // multi-tenant endpoint advertises a template that each ID token fills in.
        if advertised != self.issuer && !advertised.contains(TENANT_PLACEHOLDER) {
            return Err(ApiError::provider_unavailable(format!(
                "discovery at {url} is for issuer {advertised}, not {}",
                self.issuer
            )));
        }
        Ok(metadata)
    }
}

async fn fetch_json<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    what: &str,
) -> ApiResult<T> {
    let response = http
        .get(url)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|e| ApiError::provider_unavailable(format!("{what}: {}", without_url(&e))))?;
    if !response.status().is_success() {
        return Err(ApiError::provider_unavailable(format!(
            "{what}: {url} answered {}",
            response.status()
        )));
    }
    response.json().await.map_err(|e| {
        ApiError::provider_unavailable(format!("{what}: {url} sent an unreadable document: {e}"))
    })
}

fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    match error.url() {
        Some(url) => format!("{kind} ({})", url.as_str()),
        None => kind.to_owned(),
    }
}
