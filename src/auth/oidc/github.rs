//! GitHub: OAuth 2.0 without ID tokens. The code is exchanged for an access token, then the
//! user and their verified primary email are read from the API. The subject is GitHub's
//! numeric user id, which, unlike the login, never changes.

use openidconnect::{PkceCodeChallenge, PkceCodeVerifier};
use serde::Deserialize;

use super::{expose, AuthorizeRequest, ProviderIdentity};
use crate::config::ProviderSettings;
use crate::errors::{ApiError, ApiResult};

pub fn apply_defaults(config: &mut ProviderSettings) {
    let defaults = [
        (
            &mut config.authorization_url,
            "https://github.com/login/oauth/authorize",
        ),
        (
            &mut config.token_url,
            "https://github.com/login/oauth/access_token",
        ),
        (&mut config.api_url, "https://api.github.com"),
    ];
    for (value, default) in defaults {
        if value.is_empty() {
            *value = default.to_owned();
        }
    }
}

pub fn authorize_url(
    config: &ProviderSettings,
    redirect_uri: &str,
    request: &AuthorizeRequest,
) -> ApiResult<String> {
    let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
        expose(&request.pkce_verifier).to_owned(),
    ));
    let scope = config.scopes.join(" ");
    let params = [
        ("client_id", config.client_id.as_str()),
        ("redirect_uri", redirect_uri),
        ("scope", scope.as_str()),
        ("state", request.state.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    openidconnect::url::Url::parse_with_params(&config.authorization_url, params)
        .map(|url| url.to_string())
        .map_err(|e| ApiError::internal(format!("github authorization_url: {e}")))
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct GitHubUser {
    id: u64,
    login: String,
    name: Option<String>,
}

#[derive(Deserialize)]
struct GitHubEmail {
    email: String,
    primary: bool,
    verified: bool,
}

pub async fn exchange(
    http: &reqwest::Client,
    config: &ProviderSettings,
    code: &str,
    redirect_uri: &str,
    pkce_verifier: &str,
) -> ApiResult<ProviderIdentity> {
    let form = [
        ("client_id", config.client_id.as_str()),
        ("client_secret", expose(&config.client_secret)),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", pkce_verifier),
    ];
    let answer: TokenAnswer = http
        .post(&config.token_url)
        .header("Accept", "application/json")
        .form(&form)
        .send()
        .await
        .map_err(|_| ApiError::provider_unavailable("GitHub token endpoint: request failed"))?
        .error_for_status()
        .map_err(|e| {
            ApiError::provider_unavailable(format!(
                "GitHub token endpoint: {}",
                e.status().unwrap_or_default()
            ))
        })?
        .json()
        .await
        .map_err(|_| {
            ApiError::provider_unavailable("GitHub token endpoint: unreadable response")
        })?;
    let token = match (answer.access_token, answer.error) {
        (Some(token), None) => token,
        (_, error) => {
            return Err(ApiError::oidc_exchange_failed(format!(
                "GitHub answered {}",
                error.unwrap_or_else(|| "no access token".into())
            )))
        }
    };
    let user: GitHubUser = api_get(http, config, &token, "/user").await?;
    let emails: Vec<GitHubEmail> = api_get(http, config, &token, "/user/emails").await?;
    let primary = emails.into_iter().find(|e| e.primary && e.verified);
    let name = user.name.unwrap_or(user.login);
    let (given, family) = name.split_once(' ').unwrap_or((name.as_str(), ""));
    Ok(ProviderIdentity {
        subject: user.id.to_string(),
        email_verified: primary.is_some(),
        email: primary.map(|e| e.email),
        given_name: Some(given.to_owned()).filter(|s| !s.is_empty()),
        family_name: Some(family.to_owned()).filter(|s| !s.is_empty()),
    })
}

async fn api_get<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    config: &ProviderSettings,
    token: &str,
    path: &str,
) -> ApiResult<T> {
    let url = format!("{}{path}", config.api_url.trim_end_matches('/'));
    http.get(&url)
        .bearer_auth(token)
        .header("Accept", "application/vnd.github+json")
        .header("User-Agent", "authd")
        .send()
        .await
        .map_err(|_| ApiError::provider_unavailable(format!("GitHub API {path}: request failed")))?
        .error_for_status()
        .map_err(|e| {
            ApiError::provider_unavailable(format!(
                "GitHub API {path}: {}",
                e.status().unwrap_or_default()
            ))
        })?
        .json()
        .await
        .map_err(|_| {
            ApiError::provider_unavailable(format!("GitHub API {path}: unreadable response"))
        })
}
