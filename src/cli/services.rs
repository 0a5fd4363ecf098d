//! `authd services`: credentials of internal services.

use clap::Subcommand;
use secrecy::ExposeSecret;

use super::CliResult;

#[derive(Subcommand)]
pub enum ServicesCommand {
    /// Make a secret for an internal service and print it once, with the line that lets
    /// authd recognise it (only its SHA-256 is configured).
    NewToken {
        /// The service's name in the configuration (lower-case letters, digits and `_`, so
        /// that its environment form names it too).
        name: String,
    },
}

pub fn run(command: ServicesCommand) -> CliResult {
    let ServicesCommand::NewToken { name } = command;
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(format!(
            "the service name {name:?} may hold only lower-case letters, digits and _"
        ));
    }
    let (token, hash) = crate::auth::services::new_token();
    println!(
        "secret for {name} (give it to the service; it is not shown again):\n  {}\n\n\
         configure authd with\n  [services.{name}]\n  token_sha256 = \"{hash}\"\n\
         or\n  AUTHD__SERVICES__{}__TOKEN_SHA256={hash}",
        token.expose_secret(),
        name.to_uppercase()
    );
    Ok(())
}
