//! Provider metadata and signing keys, fetched lazily and cached, so authd starts (and stays
//! ready) while a provider is down. Fetched by hand rather than with `discover_async`, which
//! rejects Microsoft's multi-tenant documents whose issuer is a `{tenantid}` template.

use std::sync::Arc;
use std::time::Duration;

use openidconnect::core::{CoreJsonWebKeySet, CoreProviderMetadata};
use serde::de::DeserializeOwned;

use crate::errors::{ApiError, ApiResult};

/// How long a failed fetch is remembered: requests in that time fail at once with the same
/// error instead of each waiting out the HTTP timeout against a provider that is down.
const FAILURE_TTL: Duration = Duration::from_secs(5);

/// One provider's metadata and keys. Concurrent requests share one in-flight fetch (moka's
/// `try_get_with`), so a slow provider costs one timeout, not one per waiting request, and no
/// lock is held while fetching; failures are cached briefly.
pub struct MetadataCache {
    issuer: String,
    fetched: moka::future::Cache<(), Arc<CoreProviderMetadata>>,
    failed: moka::future::Cache<(), ApiError>,
}

/// The placeholder Microsoft puts in the issuer of its multi-tenant endpoints.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

impl MetadataCache {
    pub fn new(issuer: &str, ttl: Duration) -> Self {
        Self {
            issuer: issuer.trim_end_matches('/').to_owned(),
            fetched: moka::future::Cache::builder()
                .max_capacity(1)
                .time_to_live(ttl)
                .build(),
            failed: moka::future::Cache::builder()
                .max_capacity(1)
                .time_to_live(FAILURE_TTL)
                .build(),
        }
    }

    /// The metadata with its key set; `refetch_keys` fetches both again (once, after an ID
    /// token named a key the cached set does not have: the provider rotated its keys).
    pub async fn get(
        &self,
        http: &reqwest::Client,
        refetch_keys: bool,
    ) -> ApiResult<Arc<CoreProviderMetadata>> {
        if refetch_keys {
            self.fetched.invalidate(&()).await;
        } else if let Some(metadata) = self.fetched.get(&()).await {
            return Ok(metadata);
        }
        if let Some(error) = self.failed.get(&()).await {
            return Err(error);
        }
        let fetched = self
            .fetched
            .try_get_with((), async {
                let metadata = self.discover(http).await?;
                let keys: CoreJsonWebKeySet =
                    fetch_json(http, metadata.jwks_uri().url().as_str(), "key set").await?;
                Ok::<_, ApiError>(Arc::new(metadata.set_jwks(keys)))
            })
            .await;
        match fetched {
            Ok(metadata) => Ok(metadata),
            Err(error) => {
                // Those already waiting got it too; the next ones get it from `failed`.
                let error = (*error).clone();
                self.failed.insert((), error.clone()).await;
                Err(error)
            }
        }
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
