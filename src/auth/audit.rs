//! The audit log: one row per security event or admin action, written in the same transaction
//! as the action where there is one (a rolled-back action leaves no event). An event names
//! whom it is about, who did it, from where, and a few details; never a password, token, code
//! or email address. Each event is also a JSON line on the log target `authd::audit`, for log
//! shippers (off unless that target logs at info).

use diesel::QueryResult;
use serde_json::{Map, Value};

use crate::db::audit::AuditEvent;
use crate::db::sessions::SessionOrigin;
use crate::db::DbConnection;

/// Every kind of event; the strings are the stable `type` of the API and the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Registered,
    LoginSucceeded,
    LoginFailed,
    RefreshReuseDetected,
    Logout,
    LogoutAll,
    LogoutOthers,
    SessionRevoked,
    PasswordChanged,
    PasswordReset,
    EmailVerified,
    EmailChanged,
    IdentityLinked,
    IdentityUnlinked,
    LockoutTriggered,
    RateLimitTriggered,
    AdminUserCreated,
    AdminUserUpdated,
    AdminUserDeleted,
    AdminUserLoggedOut,
    ApiKeyCreated,
    ApiKeyRevoked,
}

impl Event {
    pub const ALL: [Event; 22] = [
        Event::Registered,
        Event::LoginSucceeded,
        Event::LoginFailed,
        Event::RefreshReuseDetected,
        Event::Logout,
        Event::LogoutAll,
        Event::LogoutOthers,
        Event::SessionRevoked,
        Event::PasswordChanged,
        Event::PasswordReset,
        Event::EmailVerified,
        Event::EmailChanged,
        Event::IdentityLinked,
        Event::IdentityUnlinked,
        Event::LockoutTriggered,
        Event::RateLimitTriggered,
        Event::AdminUserCreated,
        Event::AdminUserUpdated,
        Event::AdminUserDeleted,
        Event::AdminUserLoggedOut,
        Event::ApiKeyCreated,
        Event::ApiKeyRevoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::Registered => "user.registered",
            Event::LoginSucceeded => "login.succeeded",
            Event::LoginFailed => "login.failed",
            Event::RefreshReuseDetected => "refresh.reuse_detected",
            Event::Logout => "logout",
            Event::LogoutAll => "logout.all",
            Event::LogoutOthers => "logout.others",
            Event::SessionRevoked => "session.revoked",
            Event::PasswordChanged => "password.changed",
            Event::PasswordReset => "password.reset",
            Event::EmailVerified => "email.verified",
            Event::EmailChanged => "email.changed",
            Event::IdentityLinked => "identity.linked",
            Event::IdentityUnlinked => "identity.unlinked",
            Event::LockoutTriggered => "lockout.triggered",
            Event::RateLimitTriggered => "rate_limit.triggered",
            Event::AdminUserCreated => "admin.user_created",
            Event::AdminUserUpdated => "admin.user_updated",
            Event::AdminUserDeleted => crate::db::audit::USER_DELETED,
            Event::AdminUserLoggedOut => "admin.user_logged_out",
            Event::ApiKeyCreated => "api_key.created",
            Event::ApiKeyRevoked => "api_key.revoked",
        }
    }

    pub fn parse(name: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|event| event.as_str() == name)
    }
}

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    User(String),
    Admin(String),
    ApiKey(String),
    Cli,
    System,
    Anonymous,
}

impl Actor {
    pub fn label(&self) -> String {
        match self {
            Actor::User(id) => format!("user:{id}"),
            Actor::Admin(id) => format!("admin:{id}"),
            Actor::ApiKey(prefix) => format!("api_key:{prefix}"),
            Actor::Cli => "cli".into(),
            Actor::System => "system".into(),
            Actor::Anonymous => "anonymous".into(),
        }
    }
}

/// Where a request came from: the client address (trusted-proxy rule applied) and its user
/// agent, as the session list keeps them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub ip: String,
    pub user_agent: String,
}

impl From<&SessionOrigin> for Origin {
    fn from(origin: &SessionOrigin) -> Self {
        Self {
            ip: origin.ip.clone(),
            user_agent: origin.user_agent.clone(),
        }
    }
}

/// One event, built up and then written.
#[derive(Debug, Clone)]
pub struct Record {
    event: Event,
    user_id: Option<String>,
    actor: Actor,
    details: Map<String, Value>,
}

impl Record {
    /// An event about `user_id`, done by that user (or by nobody known).
    pub fn new(event: Event, user_id: Option<&str>) -> Self {
        Self {
            event,
            user_id: user_id.map(str::to_owned),
            actor: user_id.map_or(Actor::Anonymous, |id| Actor::User(id.to_owned())),
            details: Map::new(),
        }
    }

    pub fn by(mut self, actor: Actor) -> Self {
        self.actor = actor;
        self
    }

    /// A detail. Callers pass reasons, kinds, ids and field names; never a secret or an email.
    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    pub fn write(self, conn: &mut DbConnection, origin: &Origin) -> QueryResult<()> {
        let event = AuditEvent {
            id: uuid::Uuid::new_v4().to_string(),
            created_at: crate::db::now(),
            event_type: self.event.as_str().to_owned(),
            user_id: self.user_id,
            actor: self.actor.label(),
            ip: origin.ip.clone(),
            user_agent: origin.user_agent.clone(),
            details: Value::Object(self.details).to_string(),
        };
        event.insert(conn)?;
        log_line(&event);
        Ok(())
    }
}

/// The event as one JSON line on `authd::audit`, when that target logs at info.
fn log_line(event: &AuditEvent) {
    if log::log_enabled!(target: "authd::audit", log::Level::Info) {
        let line = serde_json::json!({
            "id": event.id,
            "time": event
                .created_at
                .and_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "type": event.event_type,
            "userId": event.user_id,
            "actor": event.actor,
            "ip": event.ip,
            "userAgent": event.user_agent,
            "details": serde_json::from_str::<Value>(&event.details).unwrap_or_default(),
        });
        log::info!(target: "authd::audit", "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_name_parses_back_and_is_unique() {
        let mut names: Vec<&str> = Event::ALL.iter().map(|e| e.as_str()).collect();
        for event in Event::ALL {
            assert_eq!(Event::parse(event.as_str()), Some(event));
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Event::ALL.len());
        assert_eq!(Event::parse("login"), None);
    }
}
