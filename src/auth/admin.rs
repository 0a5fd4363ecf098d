//! Administration: who may administer (a staff user whose session is live, read from the
//! database rather than from the token's `isStaff` claim, which may be up to an access-token
//! lifetime old), and what administering does to a user, for the admin API and the CLI alike.
//! Each operation writes its audit event; the caller runs it in a transaction.

use super::audit::{Actor, Event, Origin, Record};
use super::extractor::AuthenticatedUser;
use super::sessions::{self, SessionPolicy};
use crate::db::sessions::{RevokeReason, Session};
use crate::db::users::{Taken, User};
use crate::db::users_admin::AdminChanges;
use crate::db::{self, DbConnection, UniqueField};
use crate::domain::{PersonName, UserEmail, Username};
use crate::errors::{ApiError, ApiResult, FieldErrors};

/// An administrator, as the audit log names them.
#[derive(Debug, Clone)]
pub struct Admin {
    /// The staff user behind the request.
    pub user_id: String,
    pub actor: Actor,
}

pub fn require_admin(
    conn: &mut DbConnection,
    policy: &SessionPolicy,
    caller: &AuthenticatedUser,
) -> ApiResult<Admin> {
    let user: User =
        sessions::live_session_user(conn, policy, &caller.session_id, &caller.user_id)?;
    if !user.is_staff {
        return Err(ApiError::admin_only());
    }
    Ok(Admin {
        actor: Actor::Admin(user.id.clone()),
        user_id: user.id,
    })
}

/// The user `id`, or 404 `not_found`.
pub fn find_user(conn: &mut DbConnection, id: &str) -> ApiResult<User> {
    use diesel::OptionalExtension as _;
    User::find_by_id(conn, id)
        .optional()?
        .ok_or_else(ApiError::user_not_found)
}

/// A unique index that refused a write, as the field it guards.
pub fn taken_or(error: diesel::result::Error) -> ApiError {
    match db::unique_violation(&error) {
        Some(UniqueField::Email) => ApiError::taken(Taken::Email),
        Some(UniqueField::Username) => ApiError::taken(Taken::Username),
        _ => error.into(),
    }
}

/// What an admin may change about a user, as sent; `None` leaves a field alone, and a
/// `username` of `Some(None)` removes it.
#[derive(Debug, Default)]
pub struct UserEdit {
    pub email: Option<String>,
    pub username: Option<Option<String>>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email_verified: Option<bool>,
    pub is_active: Option<bool>,
    pub is_staff: Option<bool>,
}

impl UserEdit {
    /// The changes, every field checked at once, and the names of the fields sent.
    pub fn parse(self) -> ApiResult<(AdminChanges, Vec<&'static str>)> {
        let mut errors = FieldErrors::default();
        let mut fields = Vec::new();
        let mut changes = AdminChanges::default();
        if let Some(raw) = &self.email {
            fields.push("email");
            if let Some(email) = errors.check("email", UserEmail::parse(raw)) {
                changes.email_key = Some(email.key());
                changes.email = Some(email.as_str().to_owned());
                // A new address is unproven unless the admin says otherwise.
                changes.email_verified = Some(false);
            }
        }
        if let Some(raw) = &self.username {
            fields.push("username");
            match raw.as_deref().map(str::trim) {
                None | Some("") => {
                    changes.username = Some(None);
                    changes.username_key = Some(None);
                }
                Some(raw) => {
                    if let Some(username) = errors.check("username", Username::parse(raw)) {
                        changes.username_key = Some(Some(username.key()));
                        changes.username = Some(Some(username.as_str().to_owned()));
                    }
                }
            }
        }
        if let Some(raw) = &self.first_name {
            fields.push("firstName");
            changes.first_name = errors
                .check("firstName", PersonName::parse(raw))
                .map(PersonName::into_inner);
        }
        if let Some(raw) = &self.last_name {
            fields.push("lastName");
            changes.last_name = errors
                .check("lastName", PersonName::parse(raw))
                .map(PersonName::into_inner);
        }
        for (name, value, target) in [
            (
                "emailVerified",
                self.email_verified,
                &mut changes.email_verified,
            ),
            ("isActive", self.is_active, &mut changes.is_active),
            ("isStaff", self.is_staff, &mut changes.is_staff),
        ] {
            if let Some(value) = value {
                fields.push(name);
                *target = Some(value);
            }
        }
        errors.into_result()?;
        changes.updated_at = Some(db::now());
        Ok((changes, fields))
    }
}

/// Applies checked changes. Deactivating ends every session at once (and the revocation feed
/// tells the services). A new email address is unverified unless the same edit says otherwise.
pub fn update_user(
    conn: &mut DbConnection,
    id: &str,
    changes: &AdminChanges,
    fields: Vec<&'static str>,
    actor: Actor,
    origin: &Origin,
) -> ApiResult<User> {
    let before = find_user(conn, id)?;
    let user = User::apply_admin_changes(conn, id, changes).map_err(taken_or)?;
    let mut record = Record::new(Event::AdminUserUpdated, Some(id))
        .by(actor)
        .detail("fields", fields);
    if before.is_active && !user.is_active {
        let ended = Session::revoke_all_of_user(conn, id, None, RevokeReason::Deactivated)?;
        record = record.detail("sessionsEnded", ended);
    }
    record.write(conn, origin)?;
    Ok(user)
}

/// Deletes the user and everything that points at them (GDPR erasure). The audit log keeps
/// their events, without where they came from.
pub fn delete_user(
    conn: &mut DbConnection,
    id: &str,
    actor: Actor,
    origin: &Origin,
) -> ApiResult<()> {
    let user = find_user(conn, id)?;
    User::delete_with_everything(conn, &user)?;
    Record::new(Event::AdminUserDeleted, Some(id))
        .by(actor)
        .write(conn, origin)?;
    Ok(())
}

/// Ends every session of the user at once; returns how many were live.
pub fn logout_user(
    conn: &mut DbConnection,
    id: &str,
    actor: Actor,
    origin: &Origin,
) -> ApiResult<usize> {
    let user = find_user(conn, id)?;
    let ended = Session::revoke_all_of_user(conn, &user.id, None, RevokeReason::EndedByAdmin)?;
    Record::new(Event::AdminUserLoggedOut, Some(&user.id))
        .by(actor)
        .detail("sessionsEnded", ended)
        .write(conn, origin)?;
    Ok(ended)
}
