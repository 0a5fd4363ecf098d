//! Email: how messages are written (`templates`), sent (`Mailer`: SMTP through lettre, or a
//! folder in development) and delivered from the outbox by a worker in every process
//! (`worker`). Requests never send mail themselves: they write the message to the outbox in
//! the same transaction as the token it carries, so a message is never lost, never sent for
//! a token that was rolled back, and an SMTP outage does not fail the request.

pub mod templates;
pub mod worker;

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::config::EmailSettings;
use crate::db::outbox::OutboxMessage;

/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// Development: each message is written to this folder as an `.eml` file.
    Folder(PathBuf),
}

/// A delivery that did not happen; `permanent` when trying again cannot help (a 5xx answer).
#[derive(Debug)]
pub struct DeliveryError {
    pub permanent: bool,
    pub reason: String,
}

/// What requests need to write messages, and the outbox whose worker delivers them (it stops
/// when this is dropped with the server's state).
pub struct MailState {
    pub settings: EmailSettings,
    pub templates: templates::Templates,
    outbox: std::sync::Arc<worker::Outbox>,
}

impl MailState {
    /// Loads the templates, sets up the transport and starts this process's delivery worker.
    pub fn start(
        settings: &EmailSettings,
        pool: crate::db::DbPool,
        write_turn: Option<std::sync::Arc<tokio::sync::Semaphore>>,
    ) -> Result<Self, String> {
        let templates = templates::Templates::load(&settings.templates_dir)?;
        let mailer = Mailer::from_settings(settings)?;
        let wakeup = std::sync::Arc::new(tokio::sync::Notify::new());
        let outbox = std::sync::Arc::new(worker::Outbox {
            pool,
            mailer,
            max_attempts: i32::try_from(settings.max_attempts.max(1)).unwrap_or(i32::MAX),
            write_turn,
            wakeup: wakeup.clone(),
        });
        worker::spawn(std::sync::Arc::downgrade(&outbox), wakeup);
        log::info!(
            "email: messages are delivered to {}",
            Mailer::describe(settings)
        );
        Ok(Self {
            settings: settings.clone(),
            templates,
            outbox,
        })
    }

    /// Wakes this process's worker after a message was committed to the outbox.
    pub fn wake(&self) {
        self.outbox.wakeup.notify_one();
    }
}

#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
}

impl Mailer {
    /// SMTP when `email.smtp_url` is set, else the development folder.
    pub fn from_settings(settings: &EmailSettings) -> Result<Self, String> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| format!("email.from {:?}: {e}", settings.from))?;
        let url = settings.smtp_url.expose_secret();
        let transport = if url.is_empty() {
            Transport::Folder(PathBuf::from(&settings.dev_mail_dir))
        } else {
            // lettre's error does not repeat the URL, which may hold a password.
            let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                .map_err(|e| format!("email.smtp_url: {e}"))?;
            Transport::Smtp(builder.timeout(Some(SMTP_TIMEOUT)).build())
        };
        Ok(Self { transport, from })
    }

    /// Where messages go, for the log: the SMTP host and port, never the credentials.
    pub fn describe(settings: &EmailSettings) -> String {
        let url = settings.smtp_url.expose_secret();
        if url.is_empty() {
            return format!("the folder {} (no email.smtp_url)", settings.dev_mail_dir);
        }
        match url::Url::parse(url) {
            Ok(parsed) => format!(
                "{}://{}:{}",
                parsed.scheme(),
                parsed.host_str().unwrap_or("?"),
                parsed.port_or_known_default().unwrap_or(0)
            ),
            Err(_) => "an SMTP server".to_owned(),
        }
    }

    pub async fn deliver(&self, message: &OutboxMessage) -> Result<(), DeliveryError> {
        let invalid = |reason: String| DeliveryError {
            permanent: true,
            reason,
        };
        let to: Mailbox = message
            .recipient
            .parse()
            .map_err(|e| invalid(format!("recipient: {e}")))?;
        let email = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                message.body_text.clone(),
                message.body_html.clone(),
            ))
            .map_err(|e| invalid(format!("message: {e}")))?;
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(email)
                    .await
                    .map(|_| ())
                    .map_err(|error| DeliveryError {
                        permanent: error.is_permanent(),
                        reason: error.to_string(),
                    })
            }
            Transport::Folder(dir) => {
                let write = || -> std::io::Result<PathBuf> {
                    std::fs::create_dir_all(dir)?;
                    // Written aside, then renamed: whoever reads the folder sees whole messages.
                    let partial = dir.join(format!(".{}.partial", message.id));
                    let path = dir.join(format!("{}.eml", message.id));
                    std::fs::write(&partial, email.formatted())?;
                    std::fs::rename(&partial, &path)?;
                    Ok(path)
                };
                let path = write().map_err(|e| DeliveryError {
                    permanent: false,
                    reason: format!("{}: {e}", dir.display()),
                })?;
                // The path only: the message holds a token.
                log::info!("email to the development folder: {}", path.display());
                Ok(())
            }
        }
    }
}
