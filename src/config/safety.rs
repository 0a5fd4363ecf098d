//! The settings authd refuses to start with: unsafe anywhere, or unsafe outside the developer's
//! `local` profile.

use secrecy::ExposeSecret;

use super::{Settings, SettingsError};

impl Settings {
    /// Refuses settings that are unsafe anywhere, and in production those that are unsafe there.
    pub fn check_safety(&self) -> Result<(), SettingsError> {
        let mut problems = Vec::new();
        let jwt = &self.jwt;
        let algorithm = jwt.algorithm.as_str();
        if !["EdDSA", "ES256", "RS256", "HS256"].contains(&algorithm) {
            problems.push(format!(
                "jwt.algorithm is {algorithm:?}; use EdDSA, ES256, RS256 or HS256"
            ));
        }
        for origin in &self.cors.allowed_origins {
            if origin != "*" && !is_origin(origin) {
                problems.push(format!(
                    "cors.allowed_origins has {origin:?}; an origin is scheme://host[:port] with no path"
                ));
            }
        }
        for (id, provider) in &self.oidc.providers {
            if !["oidc", "apple", "github"].contains(&provider.kind.as_str()) {
                problems.push(format!(
                    "oidc.providers.{id}.kind is {:?}; use oidc, apple or github",
                    provider.kind
                ));
            }
            if provider.kind == "oidc" && provider.issuer.is_empty() {
                problems.push(format!(
                    "oidc.providers.{id}.issuer is required for kind oidc"
                ));
            }
            if provider.client_id.is_empty() {
                problems.push(format!("oidc.providers.{id}.client_id is required"));
            }
            if provider.kind == "github" && provider.client_secret.expose_secret().is_empty() {
                problems.push(format!(
                    "oidc.providers.{id}.client_secret is required for GitHub"
                ));
            }
            let apple_key = !provider.private_key.expose_secret().is_empty()
                || !provider.private_key_file.is_empty();
            if provider.kind == "apple"
                && (provider.team_id.is_empty() || provider.key_id.is_empty() || !apple_key)
            {
                problems.push(format!(
                    "oidc.providers.{id} (apple) needs team_id, key_id and private_key or private_key_file"
                ));
            }
        }
        if let Err(problem) =
            crate::routes::client_ip::TrustedProxies::parse(&self.server.trusted_proxies)
        {
            problems.push(format!("server.trusted_proxies: {problem}"));
        }
        let redis_url = self.rate_limit.redis_url.expose_secret();
        if !redis_url.is_empty()
            && !["redis://", "rediss://", "redis+unix://", "unix://"]
                .iter()
                .any(|scheme| redis_url.starts_with(scheme))
        {
            problems.push("rate_limit.redis_url must start with redis:// or rediss://".into());
        }
        if self.lockout.enabled && (self.lockout.max_failures == 0 || self.lockout.lock_secs == 0) {
            problems.push("lockout.max_failures and lockout.lock_secs must be above 0".into());
        }
        let email = &self.email;
        if email.enabled
            && !["http://", "https://"]
                .iter()
                .any(|s| email.link_base_url.starts_with(s))
        {
            problems.push(format!(
                "email.link_base_url {:?} is not an http(s) URL",
                email.link_base_url
            ));
        }
        let smtp_url = email.smtp_url.expose_secret();
        if !smtp_url.is_empty()
            && !smtp_url.starts_with("smtp://")
            && !smtp_url.starts_with("smtps://")
        {
            problems.push("email.smtp_url must start with smtp:// or smtps://".into());
        }
        if jwt.access_ttl_secs == 0 || jwt.refresh_ttl_secs == 0 {
            problems.push("jwt.access_ttl_secs and jwt.refresh_ttl_secs must be above 0".into());
        }
        problems.extend(key_rotation_problems(jwt));
        problems.extend(self.django.problems());
        if self.metrics.own_port() == Some(self.server.port) {
            problems.push(
                "metrics.port is server.port; give the metrics another port, or 0 to serve them \
                 on the main listener"
                    .into(),
            );
        }
        if self.is_production() {
            let secret_len = jwt.secret.expose_secret().len();
            if algorithm == "HS256" && secret_len < 32 {
                problems.push(format!(
                    "jwt.secret is {secret_len} bytes; HS256 needs at least 32 bytes of random secret"
                ));
            }
            // Without a PEM, the keys live in the database; that needs the key-encryption key.
            if algorithm != "HS256"
                && jwt.private_key_file.is_empty()
                && jwt.private_key.expose_secret().is_empty()
                && !has_key_encryption_key(jwt)
            {
                problems.push(
                    "no signing key: set jwt.private_key_file or jwt.private_key (authd keys generate writes one), \
                     or keep keys in the database with jwt.key_encryption_key_file and authd keys rotate \
                     or jwt.auto_rotate_days"
                        .into(),
                );
            }
            if jwt.auto_rotate_days > 0.0 && !has_key_encryption_key(jwt) {
                problems.push(
                    "jwt.auto_rotate_days needs jwt.key_encryption_key_file or jwt.key_encryption_key: \
                     database keys are stored encrypted with it"
                        .into(),
                );
            }
            if jwt.generate_key {
                problems
                    .push("jwt.generate_key must be off: every instance needs the same key".into());
            }
            if self.cors.allowed_origins.iter().any(|o| o == "*") {
                problems.push(
                    "cors.allowed_origins has the wildcard \"*\"; list the SPA's origins".into(),
                );
            }
            if self.email.enabled && self.email.smtp_url.expose_secret().is_empty() {
                problems.push(
                    "email.enabled needs email.smtp_url outside the local profile (the folder \
                     transport is for development)"
                        .into(),
                );
            }
            if !jwt.issuer.starts_with("https://") {
                problems.push(format!("jwt.issuer {:?} is not an https URL", jwt.issuer));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SettingsError::Unsafe {
                profile: self.profile.clone(),
                problems,
            })
        }
    }
}

fn has_key_encryption_key(jwt: &super::JwtSettings) -> bool {
    !jwt.key_encryption_key_file.is_empty() || !jwt.key_encryption_key.expose_secret().is_empty()
}

/// Rules of the key schedule that hold in every profile: breaking one would let a key sign
/// before services can know it.
fn key_rotation_problems(jwt: &super::JwtSettings) -> Vec<String> {
    let mut problems = Vec::new();
    if !(jwt.auto_rotate_days >= 0.0 && jwt.auto_rotate_days.is_finite()) {
        problems.push(format!(
            "jwt.auto_rotate_days is {}; use 0 (off) or a number of days",
            jwt.auto_rotate_days
        ));
    }
    if jwt.auto_rotate_days > 0.0 && jwt.algorithm == "HS256" {
        problems.push(
            "jwt.auto_rotate_days needs an asymmetric jwt.algorithm (EdDSA, ES256 or RS256): \
             an HS256 secret is shared with every service and cannot be published ahead"
                .into(),
        );
    }
    if jwt.key_prepublish_secs() < jwt.jwks_max_age_secs {
        problems.push(format!(
            "jwt.key_prepublish_secs ({}) is below jwt.jwks_max_age_secs ({}): a new key would \
             sign before every service's cached key set has it",
            jwt.key_prepublish_secs(),
            jwt.jwks_max_age_secs
        ));
    }
    if jwt.key_reload_secs == 0 {
        problems.push("jwt.key_reload_secs must be above 0".into());
    }
    problems
}

fn is_origin(origin: &str) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains('/')
}
