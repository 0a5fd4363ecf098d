//! The `audit_events` table: what happened to whom, by whom, from where.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::audit_events;
use super::{DbConnection, Position};

/// The type of the event that records a user's deletion (`auth::audit::Event::AdminUserDeleted`).
pub const USER_DELETED: &str = "admin.user_deleted";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub id: String,
    pub created_at: NaiveDateTime,
    pub event_type: String,
    /// Whom the event is about, when known.
    pub user_id: Option<String>,
    /// Who did it: `user:<id>`, `admin:<id>`, `api_key:<prefix>`, `cli`, `system` or
    /// `anonymous`.
    pub actor: String,
    pub ip: String,
    pub user_agent: String,
    /// A small JSON object.
    pub details: String,
}

/// Which events a page holds.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub user_id: Option<String>,
    pub event_type: Option<String>,
    pub after: Option<NaiveDateTime>,
    pub before: Option<NaiveDateTime>,
}

impl AuditEvent {
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(audit_events::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }

    /// Up to `limit` events matching `filter`, newest first, after `from` (exclusive).
    pub fn page(
        conn: &mut DbConnection,
        filter: &AuditFilter,
        from: Option<&Position>,
        limit: i64,
    ) -> QueryResult<Vec<Self>> {
        use audit_events::dsl;
        let mut query = audit_events::table.select(Self::as_select()).into_boxed();
        if let Some(user_id) = &filter.user_id {
            query = query.filter(dsl::user_id.eq(user_id.clone()));
        }
        if let Some(event_type) = &filter.event_type {
            query = query.filter(dsl::event_type.eq(event_type.clone()));
        }
        if let Some(after) = filter.after {
            query = query.filter(dsl::created_at.ge(after));
        }
        if let Some(before) = filter.before {
            query = query.filter(dsl::created_at.lt(before));
        }
        if let Some(from) = from {
            query = query.filter(
                dsl::created_at.lt(from.created_at).or(dsl::created_at
                    .eq(from.created_at)
                    .and(dsl::id.lt(from.id.clone()))),
            );
        }
        query
            .order((dsl::created_at.desc(), dsl::id.desc()))
            .limit(limit)
            .load(conn)
    }

    /// GDPR erasure: the events about a deleted user keep their id, type and time, but lose
    /// where they came from.
    pub fn forget_origin_of_user(conn: &mut DbConnection, user_id: &str) -> QueryResult<usize> {
        diesel::update(audit_events::table.filter(audit_events::user_id.eq(user_id)))
            .set((audit_events::ip.eq(""), audit_events::user_agent.eq("")))
            .execute(conn)
    }

    /// Users deleted after `since`, (id, when), oldest first: the revocation feed reports them,
    /// since their sessions went with them.
    pub fn users_deleted_after(
        conn: &mut DbConnection,
        since: NaiveDateTime,
        limit: i64,
    ) -> QueryResult<Vec<(Option<String>, NaiveDateTime)>> {
        audit_events::table
            .filter(audit_events::event_type.eq(crate::db::audit::USER_DELETED))
            .filter(audit_events::created_at.gt(since))
            .order((audit_events::created_at.asc(), audit_events::id.asc()))
            .limit(limit)
            .select((audit_events::user_id, audit_events::created_at))
            .load(conn)
    }

    /// Retention (`audit.retention_days`).
    pub fn delete_older_than(conn: &mut DbConnection, cutoff: NaiveDateTime) -> QueryResult<usize> {
        diesel::delete(audit_events::table.filter(audit_events::created_at.lt(cutoff)))
            .execute(conn)
    }
}
