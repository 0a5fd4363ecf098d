//! What authd tells operators about itself: the log's format (`[log]`) and the Prometheus
//! metrics (`[metrics]`).

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// env_logger's lines, for people.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MetricsSettings {
    /// Off: no `/metrics`, and requests are not counted.
    pub enabled: bool,
    /// 0: `/metrics` on the main listener. Otherwise `/metrics` is served only on a second
    /// listener at `server.host` and this port, and the main listener answers it 404.
    pub port: u16,
}

impl MetricsSettings {
    /// The port of the metrics' own listener, when they have one.
    pub fn own_port(&self) -> Option<u16> {
        (self.enabled && self.port != 0).then_some(self.port)
    }
}
