//! `[services.<name>]`: the internal services that may read the revocation feed and
//! introspect tokens. Each holds only the SHA-256 of its bearer secret, so the configuration
//! (and anyone who reads it) cannot act as the service. `authd services new-token NAME` makes
//! a secret and prints its hash.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct ServiceSettings {
    /// Lower-case hex SHA-256 of the service's secret (`authd_svc_...`).
    pub token_sha256: String,
}
