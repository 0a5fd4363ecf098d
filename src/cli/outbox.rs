//! `authd outbox`: the messages not delivered yet.

use clap::Subcommand;

use super::{open_connection, CliResult};
use crate::config::Settings;
use crate::db;

#[derive(Subcommand)]
pub enum OutboxCommand {
    /// Pending and failed messages, oldest first (the default).
    List,
    /// Try a message again at once (a failed one too); a running authd delivers it.
    Retry { id: String },
}

pub fn run(command: OutboxCommand) -> CliResult {
    use crate::db::outbox::OutboxMessage;
    let settings = Settings::load().map_err(|e| e.to_string())?;
    let mut conn = open_connection(&settings)?;
    match command {
        OutboxCommand::List => {
            let messages = OutboxMessage::undelivered(&mut conn).map_err(|e| e.to_string())?;
            println!("{} undelivered message(s)", messages.len());
            for message in messages {
                let (status, at) = crate::mail::worker::describe_next(&message);
                println!(
                    "{}  {status:<7}  to {}  attempts {}  {} {at}  {}",
                    message.id,
                    message.recipient,
                    message.attempts,
                    if status == "failed" { "since" } else { "next" },
                    message.last_error.as_deref().unwrap_or("-")
                );
            }
        }
        OutboxCommand::Retry { id } => {
            if !OutboxMessage::retry(&mut conn, &id, db::now()).map_err(|e| e.to_string())? {
                return Err(format!("no undelivered message {id}"));
            }
            println!("message {id} will be tried again at once");
        }
    }
    Ok(())
}
