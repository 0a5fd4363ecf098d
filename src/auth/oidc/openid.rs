//! OpenID Connect proper, through the `openidconnect` crate: the authorization URL, the code
//! exchange, and full ID token validation (signature against the provider's keys, iss, aud,
//! azp, exp, iat, nonce).

use std::time::Duration;

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreProviderMetadata};
use openidconnect::{
    AuthType, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    SignatureVerificationError,
};
use secrecy::SecretString;

use super::discovery::TENANT_PLACEHOLDER;
use super::{expose, AuthorizeRequest, Kind, Provider, ProviderIdentity};
use crate::errors::{ApiError, ApiResult};

/// An ID token issued more than this far in the future is refused, and one older than this
/// past its `iat` too: the code was just exchanged, so its token must be fresh.
const IAT_SKEW: Duration = Duration::from_secs(300);

fn client(
    provider: &Provider,
    metadata: &CoreProviderMetadata,
    secret: Option<&SecretString>,
    redirect_uri: &str,
) -> ApiResult<
    CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
> {
    let secret = secret
        .map(expose)
        .filter(|s| !s.is_empty())
        .map(|s| ClientSecret::new(s.to_owned()));
    let redirect =
        RedirectUrl::new(redirect_uri.to_owned()).map_err(|_| ApiError::invalid_redirect_uri())?;
    let client = CoreClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(provider.settings.client_id.clone()),
        secret,
    )
    .set_redirect_uri(redirect);
    // Apple takes the client secret in the body only.
    Ok(if provider.kind == Kind::Apple {
        client.set_auth_type(AuthType::RequestBody)
    } else {
        client
    })
}

pub fn authorize_url(
    provider: &Provider,
    metadata: &CoreProviderMetadata,
    redirect_uri: &str,
    request: &AuthorizeRequest,
) -> ApiResult<String> {
    let client = client(provider, metadata, None, redirect_uri)?;
    let state = request.state.clone();
    let nonce = request.nonce.clone();
    let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
        expose(&request.pkce_verifier).to_owned(),
    ));
    let mut authorization = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            move || CsrfToken::new(state),
            move || Nonce::new(nonce),
        )
        .set_pkce_challenge(challenge);
    for scope in provider
        .settings
        .scopes
        .iter()
        .filter(|s| s.as_str() != "openid")
    {
        authorization = authorization.add_scope(Scope::new(scope.clone()));
    }
    // Apple sends the name only in a form post (on the first sign-in), so it is asked for
    // exactly when the name scope is.
    let asks_for_name = provider.settings.scopes.iter().any(|s| s == "name");
    if provider.kind == Kind::Apple && asks_for_name {
        authorization = authorization.add_extra_param("response_mode", "form_post");
    }
    Ok(authorization.url().0.to_string())
}

pub struct Exchange<'a> {
    pub provider: &'a Provider,
    pub client_secret: SecretString,
    pub code: &'a str,
    pub redirect_uri: &'a str,
    pub nonce: &'a str,
    pub pkce_verifier: &'a str,
}

pub async fn exchange(
    http: &reqwest::Client,
    exchange: Exchange<'_>,
) -> ApiResult<ProviderIdentity> {
    let provider = exchange.provider;
    let metadata = provider.metadata.get(http, false).await?;
    let client = client(
        provider,
        &metadata,
        Some(&exchange.client_secret),
        exchange.redirect_uri,
    )?;
    let response = client
        .exchange_code(AuthorizationCode::new(exchange.code.to_owned()))
        .map_err(|e| ApiError::provider_unavailable(format!("token endpoint: {e}")))?
        .set_pkce_verifier(PkceCodeVerifier::new(exchange.pkce_verifier.to_owned()))
        .request_async(http)
        .await
        .map_err(|error| match error {
            RequestTokenError::ServerResponse(response) => ApiError::oidc_exchange_failed(format!(
                "the token endpoint answered {}",
                response.error()
            )),
            RequestTokenError::Request(_) => {
                ApiError::provider_unavailable("token endpoint: request failed")
            }
            RequestTokenError::Parse(_, _) => {
                ApiError::provider_unavailable("token endpoint: unreadable response")
            }
            RequestTokenError::Other(reason) => {
                ApiError::provider_unavailable(format!("token endpoint: {reason}"))
            }
        })?;
    let id_token = openidconnect::TokenResponse::id_token(&response)
        .ok_or_else(|| ApiError::oidc_token_invalid("the token response has no id_token"))?;
    let nonce = Nonce::new(exchange.nonce.to_owned());
    match verify(provider, &metadata, id_token, &nonce) {
        // A key the cached set does not have: the provider rotated its keys. Fetch them once.
        Err(ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey,
        )) => {
            let metadata = provider.metadata.get(http, true).await?;
            verify(provider, &metadata, id_token, &nonce).map_err(token_invalid)
        }
        other => other.map_err(token_invalid),
    }
}

fn token_invalid(error: ClaimsVerificationError) -> ApiError {
    let reason = match error {
        ClaimsVerificationError::SignatureVerification(cause) => {
            format!("signature verification failed: {cause}")
        }
        other => other.to_string(),
    };
    ApiError::oidc_token_invalid(reason)
}

fn verify(
    provider: &Provider,
    metadata: &CoreProviderMetadata,
    id_token: &CoreIdToken,
    nonce: &Nonce,
) -> Result<ProviderIdentity, ClaimsVerificationError> {
    let client = CoreClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(provider.settings.client_id.clone()),
        None,
    );
    let issuer_template = metadata.issuer().as_str().contains(TENANT_PLACEHOLDER);
    let now = chrono::Utc::now();
    let verifier = client
        .id_token_verifier()
        // A multi-tenant issuer is checked below against its template, never skipped.
        .require_issuer_match(!issuer_template)
        .set_issue_time_verifier_fn(move |iat| {
            let skew = chrono::Duration::from_std(IAT_SKEW).unwrap_or_default();
            if iat > now + skew {
                Err(format!("iat {iat} is in the future"))
            } else if iat < now - skew {
                Err(format!("iat {iat} is too old for a token just issued"))
            } else {
                Ok(())
            }
        });
    let claims = id_token.claims(&verifier, nonce)?;
    // openidconnect checks azp only when there are several audiences; OpenID Connect Core
    // §3.1.3.7 asks for it whenever it is present.
    if let Some(azp) = claims.authorized_party() {
        if azp.as_str() != provider.settings.client_id {
            return Err(ClaimsVerificationError::InvalidAudience(format!(
                "azp {} is not this client",
                azp.as_str()
            )));
        }
    }
    if issuer_template {
        check_tenant_issuer(metadata.issuer().as_str(), id_token)?;
    }
    Ok(ProviderIdentity {
        subject: claims.subject().to_string(),
        email: claims.email().map(|e| e.to_string()),
        email_verified: claims.email_verified().unwrap_or(false),
        given_name: claims
            .given_name()
            .and_then(|n| n.get(None))
            .map(|n| n.to_string()),
        family_name: claims
            .family_name()
            .and_then(|n| n.get(None))
            .map(|n| n.to_string()),
    })
}

/// Microsoft's multi-tenant endpoints: the token's `iss` must be the template with the token's
/// own `tid` filled in (the signature has been checked, so the payload can be read).
fn check_tenant_issuer(
    template: &str,
    id_token: &CoreIdToken,
) -> Result<(), ClaimsVerificationError> {
    use base64::Engine as _;
    let raw = id_token.to_string();
    let payload = raw
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .ok_or_else(|| ClaimsVerificationError::Other("unreadable claims".into()))?;
    let tid = payload["tid"].as_str().ok_or_else(|| {
        ClaimsVerificationError::InvalidIssuer("no tid claim for a multi-tenant issuer".into())
    })?;
    let expected = template.replace(TENANT_PLACEHOLDER, tid);
    if payload["iss"].as_str() == Some(expected.as_str()) {
        Ok(())
    } else {
        Err(ClaimsVerificationError::InvalidIssuer(format!(
            "expected {expected} for tenant {tid}"
        )))
    }
}
