//! The `[email]` section: how messages leave (SMTP, or a folder in development), what they
//! look like, where their links point, and how long their tokens live.

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct EmailSettings {
    /// Off: no email is sent and the email routes answer 403 `email_disabled`.
    pub enabled: bool,
    /// `smtp://[user:pass@]host:port[?tls=required|opportunistic]` or `smtps://...`
    /// (implicit TLS). Empty: messages are written to `dev_mail_dir` (local profile only).
    pub smtp_url: SecretString,
    pub from: String,
    pub dev_mail_dir: String,
    pub product_name: String,
    /// The SPA's base URL; each link is this plus the purpose's path and `?token=`.
    pub link_base_url: String,
    pub verify_path: String,
    pub reset_path: String,
    pub signin_path: String,
    pub change_path: String,
    /// Folder of templates overriding the built-in ones (same file names).
    pub templates_dir: String,
    pub verification_ttl_secs: u64,
    pub reset_ttl_secs: u64,
    pub signin_ttl_secs: u64,
    pub change_ttl_secs: u64,
    /// Password login of an unverified address answers 403 `email_not_verified`.
    pub require_verification: bool,
    /// An emailed sign-in to an address without an account creates the account.
    pub signin_creates_account: bool,
    /// Delivery attempts of one message before it is marked failed.
    pub max_attempts: u32,
}
