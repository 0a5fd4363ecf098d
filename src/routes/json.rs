//! `ValidJson<T>`: a JSON body whose errors are the standard ones. actix's own `Json` handles
//! the content type (415), the size limit (413) and syntax (400 `invalid_json`); the typed
//! step goes through serde_path_to_error so a missing or mistyped field is named in `details`.

use std::future::Future;
use std::pin::Pin;

use actix_web::error::JsonPayloadError;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};

use crate::errors::ApiError;

pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub struct ValidJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ValidJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let body = web::Json::<Value>::from_request(req, payload);
        Box::pin(async move {
            let value = body
                .await
                .map_err(|e| json_payload_error(e.as_error()))?
                .into_inner();
            if !value.is_object() {
                return Err(ApiError::validation_field(
                    "nonFieldErrors",
                    "Send a JSON object.",
                ));
            }
            serde_path_to_error::deserialize(value)
                .map(ValidJson)
                .map_err(|error| {
                    let field = match error.path().to_string() {
                        path if path == "." => missing_field(error.inner()).unwrap_or(path),
                        path => path,
                    };
                    ApiError::validation_field(&field, field_problem(error.inner()))
                })
        })
    }
}

/// The body limit for `web::Json`; `ValidJson` turns its errors into the standard shape.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().limit(MAX_BODY_BYTES)
}

fn json_payload_error(error: Option<&JsonPayloadError>) -> ApiError {
    match error {
        Some(JsonPayloadError::ContentType) => ApiError::unsupported_media_type(),
        Some(JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. }) => {
            ApiError::payload_too_large(MAX_BODY_BYTES)
        }
        Some(JsonPayloadError::Deserialize(e)) => ApiError::invalid_json(e.to_string()),
        Some(other) => ApiError::invalid_json(other.to_string()),
        None => ApiError::invalid_json("unreadable body"),
    }
}

/// serde reports a missing field at the parent's path; take its name from the message.
fn missing_field(error: &serde_json::Error) -> Option<String> {
    let message = error.to_string();
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_owned())
}

fn field_problem(error: &serde_json::Error) -> String {
    let message = error.to_string();
    if message.starts_with("missing field") {
        "This field is required.".into()
    } else if message.starts_with("invalid type") {
        // serde's message quotes the value sent; it may be a password, so it is not echoed.
        let expected = message.split("expected ").nth(1).unwrap_or("another type");
        let expected = expected.split(" at line").next().unwrap_or(expected);
        format!("Expected {expected}.")
    } else {
        "This value is not valid.".into()
    }
}

/// Collects per-field problems and turns them into one `validation_error`.
#[derive(Default)]
pub struct FieldErrors(Map<String, Value>);

impl FieldErrors {
    pub fn add(&mut self, field: &str, problems: impl IntoIterator<Item = String>) {
        let list: Vec<Value> = problems.into_iter().map(Value::String).collect();
        if !list.is_empty() {
            self.0.insert(field.to_owned(), json!(list));
        }
    }

    /// Parses a value, recording the problem under `field` and returning `None` on failure.
    pub fn check<T>(&mut self, field: &str, parsed: Result<T, String>) -> Option<T> {
        parsed.map_err(|problem| self.add(field, [problem])).ok()
    }

    pub fn into_result(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.0))
        }
    }
}

/// For PATCH fields where `null` means "clear": absent → `None`, `null` → `Some(None)`.
pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}
