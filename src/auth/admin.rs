//! Who may administer: a staff user whose session is live (read from the database, not from
//! the token's `isStaff` claim, which may be up to an access-token lifetime old).

use super::audit::Actor;
use super::extractor::AuthenticatedUser;
use super::sessions::{self, SessionPolicy};
use crate::db::users::User;
use crate::db::DbConnection;
use crate::errors::{ApiError, ApiResult};

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
