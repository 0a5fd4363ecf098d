//! `[django]`: the cut-over from a Django + simplejwt deployment.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct DjangoSettings {
    /// RFC 3339; empty: simplejwt refresh tokens are never accepted.
    pub accept_simplejwt_until: String,
    pub secret_key: SecretString,
    pub secret_key_file: String,
    pub user_id_claim: String,
}

impl DjangoSettings {
    /// The end of the cut-over window, when one is set.
    pub fn window_end(&self) -> Result<Option<DateTime<Utc>>, String> {
        let raw = self.accept_simplejwt_until.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        DateTime::parse_from_rfc3339(raw)
            .map(|end| Some(end.with_timezone(&Utc)))
            .map_err(|e| {
                format!("django.accept_simplejwt_until {raw:?} is not an RFC 3339 time: {e}")
            })
    }

    fn has_secret(&self) -> bool {
        !self.secret_key.expose_secret().is_empty() || !self.secret_key_file.is_empty()
    }

    /// Django's SECRET_KEY, read from the file when one is named.
    pub fn secret(&self) -> Result<SecretString, String> {
        if self.secret_key_file.is_empty() {
            return Ok(self.secret_key.clone());
        }
        std::fs::read_to_string(&self.secret_key_file)
            .map(|text| SecretString::from(text.trim_end_matches(['\r', '\n']).to_owned()))
            .map_err(|e| format!("django.secret_key_file {}: {e}", self.secret_key_file))
    }

    /// Why these settings cannot run. The window and the secret come together: a window
    /// without the secret could accept nothing, and a secret without a window would be a
    /// forgotten key to every imported account.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let window = match self.window_end() {
            Ok(window) => window,
            Err(problem) => {
                problems.push(problem);
                None
            }
        };
        let secret_given =
            !self.secret_key.expose_secret().is_empty() && !self.secret_key_file.is_empty();
        if secret_given {
            problems.push("set django.secret_key or django.secret_key_file, not both".into());
        }
        match (
            window.is_some() || !self.accept_simplejwt_until.trim().is_empty(),
            self.has_secret(),
        ) {
            (true, false) => problems.push(
                "django.accept_simplejwt_until needs django.secret_key or django.secret_key_file"
                    .into(),
            ),
            (false, true) => problems.push(
                "django.secret_key is set but django.accept_simplejwt_until is not: set the \
                 cut-over window's end, or remove the secret"
                    .into(),
            ),
            _ => {}
        }
        if self.user_id_claim.trim().is_empty() {
            problems.push("django.user_id_claim must name a claim".into());
        }
        problems
    }
}
