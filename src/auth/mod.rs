//! Authentication: password hashing, JWT keys, issuing and verifying tokens, the bearer
//! extractor, and the session lifecycle (login, rotation, logout).

pub mod admin;
pub mod api_keys;
pub mod audit;
pub mod django_import;
pub mod email_tokens;
pub mod extractor;
pub mod jwt;
pub mod keys;
pub mod lockout;
pub mod oidc;
pub mod password;
pub mod revocations;
pub mod services;
pub mod sessions;
pub mod simplejwt;
pub mod verifier;

pub use extractor::{parse_bearer, AuthenticatedUser};
pub use jwt::{AccessClaims, TokenVerifier};
