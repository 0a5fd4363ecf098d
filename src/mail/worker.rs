//! The delivery worker: one per process, on a thread of its own. It claims due messages from
//! the outbox (so several replicas never send one message twice), sends them, and records
//! the outcome: sent (bodies cleared), tried again later with a growing wait, or failed after
//! `email.max_attempts` or a permanent refusal. Failed messages stay in the table for
//! `authd outbox`. It stops when the server that started it is gone.

use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::NaiveDateTime;

use super::Mailer;
use crate::db::outbox::OutboxMessage;
use crate::db::{self, DbPool};

/// How often the outbox is looked at when nothing wakes the worker (another replica's
/// messages, retries that came due).
const POLL: Duration = Duration::from_secs(1);
/// A claim lasts this long: enough for one SMTP conversation, short enough that the messages
/// of a process that died are sent by another soon after.
const LEASE_SECS: i64 = 60;
const BATCH: i64 = 16;
/// The wait before the n-th retry: 5 s, 10 s, 20 s ... at most an hour.
fn backoff(attempts: i32) -> chrono::Duration {
    let exponent = u32::try_from(attempts.clamp(0, 10)).unwrap_or(10);
    chrono::Duration::seconds((5_i64 << exponent).min(3600))
}

/// What the worker needs of the application, behind a weak reference: when the server stops
/// and drops its state, the worker stops too.
pub struct Outbox {
    pub pool: DbPool,
    pub mailer: Mailer,
    pub max_attempts: i32,
    /// SQLite: the writer's turn the server's requests take, taken by the worker as well.
    pub write_turn: Option<Arc<tokio::sync::Semaphore>>,
    pub wakeup: Arc<tokio::sync::Notify>,
}

pub fn spawn(outbox: Weak<Outbox>, wakeup: Arc<tokio::sync::Notify>) {
    std::thread::Builder::new()
        .name("authd-mail".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    log::error!("email delivery cannot start: {error}");
                    return;
                }
            };
            runtime.block_on(async move {
                loop {
                    let Some(outbox) = outbox.upgrade() else {
                        break;
                    };
                    while deliver_due(&outbox).await > 0 {}
                    drop(outbox);
                    tokio::select! {
                        _ = wakeup.notified() => {}
                        _ = tokio::time::sleep(POLL) => {}
                    }
                }
            });
        })
        .map(|_| ())
        .unwrap_or_else(|error| log::error!("email delivery cannot start: {error}"));
}

/// Delivers one batch of due messages; returns how many were claimed.
async fn deliver_due(outbox: &Outbox) -> usize {
    let now = db::now();
    let claimed = match with_write_turn(outbox, |conn| {
        OutboxMessage::claim_due(
            conn,
            now,
            now + chrono::Duration::seconds(LEASE_SECS),
            BATCH,
        )
    })
    .await
    {
        Ok(claimed) => claimed,
        Err(error) => {
            log::warn!("email outbox: {error}");
            return 0;
        }
    };
    let count = claimed.len();
    for message in claimed {
        let outcome = outbox.mailer.deliver(&message).await;
        let now = db::now();
        let recorded = with_write_turn(outbox, |conn| match &outcome {
            Ok(()) => OutboxMessage::mark_sent(conn, &message.id, now),
            Err(error) => {
                let attempts = message.attempts + 1;
                let give_up = error.permanent || attempts >= outbox.max_attempts;
                OutboxMessage::mark_attempt_failed(
                    conn,
                    &message.id,
                    &error.reason,
                    now + backoff(attempts),
                    give_up.then_some(now),
                )
            }
        })
        .await;
        match (&outcome, recorded) {
            (_, Err(error)) => log::warn!("email outbox: message {}: {error}", message.id),
            (Ok(()), Ok(())) => log::info!("email {} delivered", message.id),
            (Err(error), Ok(())) => log::warn!(
                "email {} not delivered (attempt {}): {}",
                message.id,
                message.attempts + 1,
                error.reason
            ),
        }
    }
    count
}

async fn with_write_turn<T>(
    outbox: &Outbox,
    work: impl FnOnce(&mut db::DbConnection) -> diesel::QueryResult<T>,
) -> Result<T, String> {
    let _turn = match &outbox.write_turn {
        Some(turn) => Some(turn.acquire().await.map_err(|e| e.to_string())?),
        None => None,
    };
    let mut conn = outbox.pool.get().map_err(|e| e.to_string())?;
    // The pool is shared with the requests, whose reads leave SQLite connections read-only.
    conn.set_read_only(false).map_err(|e| e.to_string())?;
    work(&mut conn).map_err(|e| e.to_string())
}

/// When a message of `created_at` would next be tried (for `authd outbox`).
pub fn describe_next(message: &OutboxMessage) -> (&'static str, NaiveDateTime) {
    match message.failed_at {
        Some(failed) => ("failed", failed),
        None => ("pending", message.next_attempt_at),
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn retries_wait_longer_each_time_up_to_an_hour() {
        let waits: Vec<i64> = (0..12).map(|n| backoff(n).num_seconds()).collect();
        assert_eq!(&waits[..4], &[5, 10, 20, 40]);
        assert!(waits.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*waits.last().unwrap(), 3600);
    }
}
