//! The `email_outbox` table: messages waiting to be delivered, and a record of those that were
//! (bodies cleared) or failed. Every authd process delivers from it; a claim with a lease keeps
//! two processes from sending one message.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};

use super::schema::email_outbox;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = email_outbox)]
pub struct OutboxMessage {
    pub id: String,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub created_at: NaiveDateTime,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub claimed_until: Option<NaiveDateTime>,
    pub sent_at: Option<NaiveDateTime>,
    pub failed_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
}

impl OutboxMessage {
    pub fn new(recipient: &str, subject: &str, text: &str, html: &str, now: NaiveDateTime) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            recipient: recipient.to_owned(),
            subject: subject.to_owned(),
            body_text: text.to_owned(),
            body_html: html.to_owned(),
            created_at: now,
            attempts: 0,
            next_attempt_at: now,
            claimed_until: None,
            sent_at: None,
            failed_at: None,
            last_error: None,
        }
    }

    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<usize> {
        diesel::insert_into(email_outbox::table)
            .values(self)
            .execute(conn)
    }

    /// Claims up to `limit` messages that are due at `now` and not claimed by a live lease,
    /// until `lease_until`. PostgreSQL: one statement with `FOR UPDATE SKIP LOCKED`, so
    /// concurrent processes take disjoint messages without waiting for each other. SQLite:
    /// each message is claimed by an update that re-checks the lease, and only an update that
    /// changed the row wins it.
    pub fn claim_due(
        conn: &mut DbConnection,
        now: NaiveDateTime,
        lease_until: NaiveDateTime,
        limit: i64,
    ) -> QueryResult<Vec<OutboxMessage>> {
        if let DbConnection::Postgres(pg) = conn {
            return diesel::sql_query(
                "UPDATE email_outbox SET claimed_until = $1 WHERE id IN (\
                 SELECT id FROM email_outbox WHERE sent_at IS NULL AND failed_at IS NULL \
                 AND next_attempt_at <= $2 AND (claimed_until IS NULL OR claimed_until < $2) \
                 ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING *",
            )
            .bind::<Timestamp, _>(lease_until)
            .bind::<Timestamp, _>(now)
            .bind::<BigInt, _>(limit)
            .load(pg);
        }
        let claimable = || {
            email_outbox::sent_at
                .is_null()
                .and(email_outbox::failed_at.is_null())
                .and(email_outbox::next_attempt_at.le(now))
                .and(
                    email_outbox::claimed_until
                        .is_null()
                        .or(email_outbox::claimed_until.lt(now)),
                )
        };
        let due: Vec<OutboxMessage> = email_outbox::table
            .filter(claimable())
            .order(email_outbox::next_attempt_at)
            .limit(limit)
            .select(OutboxMessage::as_select())
            .load(conn)?;
        let mut claimed = Vec::new();
        for mut message in due {
            let won = diesel::update(email_outbox::table.find(&message.id).filter(claimable()))
                .set(email_outbox::claimed_until.eq(lease_until))
                .execute(conn)?;
            if won == 1 {
                message.claimed_until = Some(lease_until);
                claimed.push(message);
            }
        }
        Ok(claimed)
    }

    /// Delivered: the bodies (which hold the message's link) are cleared.
    pub fn mark_sent(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<()> {
        diesel::update(email_outbox::table.find(id))
            .set((
                email_outbox::sent_at.eq(now),
                email_outbox::attempts.eq(email_outbox::attempts + 1),
                email_outbox::claimed_until.eq(None::<NaiveDateTime>),
                email_outbox::body_text.eq(""),
                email_outbox::body_html.eq(""),
                email_outbox::last_error.eq(None::<String>),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// Not delivered this time; tried again at `next_attempt_at`, or given up when `failed`.
    pub fn mark_attempt_failed(
        conn: &mut DbConnection,
        id: &str,
        error: &str,
        next_attempt_at: NaiveDateTime,
        failed: Option<NaiveDateTime>,
    ) -> QueryResult<()> {
        diesel::update(email_outbox::table.find(id))
            .set((
                email_outbox::attempts.eq(email_outbox::attempts + 1),
                email_outbox::next_attempt_at.eq(next_attempt_at),
                email_outbox::claimed_until.eq(None::<NaiveDateTime>),
                email_outbox::failed_at.eq(failed),
                email_outbox::last_error.eq(error),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// Pending and failed messages, oldest first (for `authd outbox`).
    pub fn undelivered(conn: &mut DbConnection) -> QueryResult<Vec<OutboxMessage>> {
        email_outbox::table
            .filter(email_outbox::sent_at.is_null())
            .order(email_outbox::created_at)
            .select(OutboxMessage::as_select())
            .load(conn)
    }

    /// How many messages wait to be delivered and how many failed, for `/metrics`: two counts
    /// over the table (delivered messages stay in it), once per scrape.
    pub fn count_undelivered(conn: &mut DbConnection) -> QueryResult<(i64, i64)> {
        let undelivered = email_outbox::table.filter(email_outbox::sent_at.is_null());
        let failed = undelivered
            .filter(email_outbox::failed_at.is_not_null())
            .count()
            .get_result(conn)?;
        let all: i64 = undelivered.count().get_result(conn)?;
        Ok((all - failed, failed))
    }

    /// A failed (or waiting) message is tried again at once; returns whether it exists unsent.
    pub fn retry(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<bool> {
        let changed = diesel::update(
            email_outbox::table
                .find(id)
                .filter(email_outbox::sent_at.is_null()),
        )
        .set((
            email_outbox::failed_at.eq(None::<NaiveDateTime>),
            email_outbox::next_attempt_at.eq(now),
            email_outbox::claimed_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
        Ok(changed == 1)
    }
}
