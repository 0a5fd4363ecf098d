//! Response bodies shared by several routes.

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::auth::jwt::IssuedPair;
use crate::db::users::User;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserBody {
    pub id: String,
    pub email: String,
    pub username: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub phone: String,
    pub email_verified: bool,
    pub is_active: bool,
    pub is_staff: bool,
    pub created_at: String,
    pub updated_at: String,
}

pub fn rfc3339(time: NaiveDateTime) -> String {
    time.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl From<User> for UserBody {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            email: user.email,
            username: user.username,
            first_name: user.first_name,
            last_name: user.last_name,
            phone: user.phone,
            email_verified: user.email_verified,
            is_active: user.is_active,
            is_staff: user.is_staff,
            created_at: rfc3339(user.created_at),
            updated_at: rfc3339(user.updated_at),
        }
    }
}

/// A user as an admin sees them: the profile, and whether a password is set (never the hash).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminUserBody {
    #[serde(flatten)]
    user: UserBody,
    has_password: bool,
    /// The last sign-in of any kind (from Django's `last_login` for imported users until
    /// their first sign-in here).
    last_login_at: Option<String>,
    /// The user's id in the Django project they were imported from.
    legacy_id: Option<String>,
}

impl From<User> for AdminUserBody {
    fn from(user: User) -> Self {
        Self {
            has_password: user.password_hash.is_some(),
            last_login_at: user.last_login_at.map(rfc3339),
            legacy_id: user.legacy_id.clone(),
            user: UserBody::from(user),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenPairBody {
    pub access: String,
    pub refresh: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub expires_at: i64,
    pub refresh_expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserBody>,
}

impl TokenPairBody {
    pub fn new(pair: IssuedPair, user: Option<User>) -> Self {
        let now = chrono::Utc::now().timestamp();
        Self {
            access: pair.access,
            refresh: pair.refresh,
            token_type: "Bearer",
            // A pair re-issued within the reuse grace period is a few seconds old.
            expires_in: (pair.access_expires_at - now).clamp(0, pair.access_ttl_secs),
            expires_at: pair.access_expires_at,
            refresh_expires_in: (pair.refresh_expires_at - now).clamp(0, pair.refresh_ttl_secs),
            user: user.map(UserBody::from),
        }
    }
}
