//! authd's integration tests: one binary, a real server over real HTTP per test, on SQLite and
//! on PostgreSQL (skipped with a message when no PostgreSQL is reachable).

mod helpers;

mod cli;
mod container;
mod cors;
mod email;
mod email_signin;
mod errors;
mod headers;
mod health;
mod interop;
mod key_rotation;
mod keys;
mod limits;
mod load;
mod lockout;
mod login;
mod logout;
mod logs;
mod me;
mod metrics;
mod migrations;
mod oidc;
mod oidc_binding;
mod oidc_linking;
mod oidc_providers;
mod outages;
mod outbox;
mod password;
mod process;
mod refresh;
mod register;
mod replicas;
mod resource_server;
mod revocations;
mod services;
mod sessions;
mod slow;
mod smtp;
mod standin;
mod tokens;
mod verifier_cache;
mod verify_snippets;
