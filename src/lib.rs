//! authd: a stateless JWT bearer-token authentication service.
//!
//! The library holds everything; `main.rs` only calls [`cli::run`]. Other actix-web services
//! can reuse [`auth::AuthenticatedUser`] with a [`auth::TokenVerifier`] built from authd's JWKS.

pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod errors;
pub mod healthcheck;
pub mod limits;
pub mod mail;
pub mod metrics;
pub mod routes;
pub mod startup;
pub mod state;
