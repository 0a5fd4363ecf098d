//! `ValidJson<T>`: a JSON body whose errors are the standard ones. actix's own `Json` handles
//! the content type (415), the size limit (413) and syntax (400 `invalid_json`, which includes
//! a key given twice); control characters in any string are a 400 `validation_error` before
//! anything reaches the database; the typed step goes through serde_path_to_error so a
//! missing or mistyped field is named in `details`.

use std::future::Future;
use std::pin::Pin;

use actix_web::error::JsonPayloadError;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::errors::ApiError;

pub const MAX_BODY_BYTES: usize = 64 * 1024;
const DEFAULT_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub struct ValidJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ValidJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let body = web::Json::<StrictValue>::from_request(req, payload);
        // A client that trickles its body (slowloris) holds the connection only this long.
        let timeout = req
            .app_data::<web::Data<crate::state::AppState>>()
            .map_or(DEFAULT_BODY_TIMEOUT, |state| state.body_timeout);
        Box::pin(async move {
            let StrictValue(value) = actix_web::rt::time::timeout(timeout, body)
                .await
                .map_err(|_| ApiError::request_timeout())?
                .map_err(|e| json_payload_error(e.as_error()))?
                .into_inner();
            typed(value).map(ValidJson)
        })
    }
}

/// The checks every body goes through once it is a JSON value: an object, no control
/// characters, then the typed step with the failing field named.
fn typed<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    if !value.is_object() {
        return Err(ApiError::validation_field(
            "nonFieldErrors",
            "Send a JSON object.",
        ));
    }
    if let Some(field) = field_with_control_character(&value, "") {
        return Err(ApiError::validation_field(
            &field,
            "Control characters are not allowed.",
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let field = match error.path().to_string() {
            path if path == "." => missing_field(error.inner()).unwrap_or(path),
            path => path,
        };
        ApiError::validation_field(&field, field_problem(error.inner()))
    })
}

/// A body sent as a form (`application/x-www-form-urlencoded`, as RFC 7662 introspection
/// clients send it) or as JSON, with the same checks as `ValidJson`; a key given twice is
/// refused in a form too.
pub struct FormOrJson<T>(pub T);

const MAX_FORM_BYTES: usize = 16 * 1024;

impl<T: DeserializeOwned + 'static> FromRequest for FormOrJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        use actix_web::HttpMessage as _;
        if req.content_type() != "application/x-www-form-urlencoded" {
            let json = ValidJson::<T>::from_request(req, payload);
            return Box::pin(async move { json.await.map(|ValidJson(body)| FormOrJson(body)) });
        }
        let form = web::Form::<Vec<(String, String)>>::from_request(req, payload);
        let timeout = req
            .app_data::<web::Data<crate::state::AppState>>()
            .map_or(DEFAULT_BODY_TIMEOUT, |state| state.body_timeout);
        Box::pin(async move {
            let pairs = actix_web::rt::time::timeout(timeout, form)
                .await
                .map_err(|_| ApiError::request_timeout())?
                .map_err(|error| match error.as_error() {
                    Some(actix_web::error::UrlencodedError::Overflow { .. }) => {
                        ApiError::payload_too_large(MAX_FORM_BYTES)
                    }
                    _ => ApiError::validation_field("nonFieldErrors", "The form cannot be read."),
                })?
                .into_inner();
            let mut object = Map::new();
            for (key, value) in pairs {
                if object.contains_key(&key) {
                    return Err(ApiError::validation_field(&key, "Given more than once."));
                }
                object.insert(key, Value::String(value));
            }
            typed(Value::Object(object)).map(FormOrJson)
        })
    }
}

/// A JSON value that refuses an object with the same key twice. serde_json keeps the last
/// one, so `{"email": "nobody@x", "email": "ann@x"}` would log in as ann while anything that
/// read the first (a proxy, a WAF, a log) saw nobody.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "the key {key:?} appears more than once"
                )));
            }
            let StrictValue(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// The path of the first string (or key) with a control character (U+0000-U+001F,
/// U+007F-U+009F): NUL is refused by PostgreSQL's text type, and none of them belongs in an
/// email, a name, a token or a password anyone types.
fn field_with_control_character(value: &Value, path: &str) -> Option<String> {
    let field = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::String(text) if text.chars().any(char::is_control) => Some(if path.is_empty() {
            "nonFieldErrors".to_owned()
        } else {
            path.to_owned()
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| field_with_control_character(item, &format!("{path}[{i}]"))),
        Value::Object(object) => object.iter().find_map(|(key, item)| {
            if key.chars().any(char::is_control) {
                Some("nonFieldErrors".to_owned())
            } else {
                field_with_control_character(item, &field(key))
            }
        }),
        _ => None,
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

pub use crate::errors::FieldErrors;

/// For PATCH fields where `null` means "clear": absent → `None`, `null` → `Some(None)`.
pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}
