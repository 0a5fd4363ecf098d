//! The log: env_logger's text lines, or with `log.format = "json"` one JSON object per line
//! (time, level, target, message, and the record's fields, such as the access line's).

use std::io::Write;

use log::kv::{self, VisitSource, VisitValue};
use serde_json::Value;

use crate::config::LogFormat;

/// `RUST_LOG` filters, with `default_filter` when it is unset.
pub fn init(default_filter: &str, format: LogFormat) {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_filter));
    if format == LogFormat::Json {
        builder.format(write_json);
    }
    builder.init();
}

/// The line's own fields first, in a fixed order, then the record's.
fn write_json(
    out: &mut env_logger::fmt::Formatter,
    record: &log::Record<'_>,
) -> std::io::Result<()> {
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let message = record.args().to_string();
    let line_fields: [(&str, &str); 4] = [
        ("time", &time),
        ("level", record.level().as_str()),
        ("target", record.target()),
        ("message", &message),
    ];
    let mut fields = Fields(Vec::new());
    // A field that cannot be read is left out rather than losing the line.
    let _ = record.key_values().visit(&mut fields);
    let record_fields = fields
        .0
        .iter()
        .filter(|(key, _)| !line_fields.iter().any(|(name, _)| name == key))
        .map(|(key, value)| (key.as_str(), value));
    let mut separator = "{";
    for (key, value) in line_fields {
        write!(
            out,
            "{separator}{}:{}",
            Value::from(key),
            Value::from(value)
        )?;
        separator = ",";
    }
    for (key, value) in record_fields {
        write!(out, ",{}:{value}", Value::from(key))?;
    }
    writeln!(out, "}}")
}

struct Fields(Vec<(String, Value)>);

impl<'kvs> VisitSource<'kvs> for Fields {
    fn visit_pair(&mut self, key: kv::Key<'kvs>, value: kv::Value<'kvs>) -> Result<(), kv::Error> {
        let mut json = Json(Value::Null);
        value.visit(&mut json)?;
        self.0.push((key.as_str().to_owned(), json.0));
        Ok(())
    }
}

/// One field's value as the JSON value of its type; anything else as its text.
struct Json(Value);

impl<'v> VisitValue<'v> for Json {
    fn visit_any(&mut self, value: kv::Value<'_>) -> Result<(), kv::Error> {
        self.0 = Value::String(value.to_string());
        Ok(())
    }

    fn visit_null(&mut self) -> Result<(), kv::Error> {
        self.0 = Value::Null;
        Ok(())
    }

    fn visit_u64(&mut self, value: u64) -> Result<(), kv::Error> {
        self.0 = value.into();
        Ok(())
    }

    fn visit_i64(&mut self, value: i64) -> Result<(), kv::Error> {
        self.0 = value.into();
        Ok(())
    }

    fn visit_f64(&mut self, value: f64) -> Result<(), kv::Error> {
        // NaN and infinities have no JSON number: null.
        self.0 = serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number);
        Ok(())
    }

    fn visit_bool(&mut self, value: bool) -> Result<(), kv::Error> {
        self.0 = value.into();
        Ok(())
    }

    fn visit_str(&mut self, value: &str) -> Result<(), kv::Error> {
        self.0 = value.into();
        Ok(())
    }
}
