use actix_web::http::StatusCode;

use super::ApiError;

/// Errors of the admin routes.
impl ApiError {
    pub fn admin_only() -> Self {
        Self::forbidden("forbidden", "This route is for administrators.")
            .with_reason("the caller is not staff, or their key lacks the admin scope")
    }

    /// An admin about to lock themselves out: removing their own staff flag, deactivating or
    /// deleting themselves. Another admin can do it.
    pub fn admin_self_lockout(code: &'static str, message: &str) -> Self {
        Self::conflict(code, message)
    }

    /// The unique field a create or change collided with.
    pub fn taken(taken: crate::db::users::Taken) -> Self {
        match taken {
            crate::db::users::Taken::Email => Self::email_taken(),
            crate::db::users::Taken::Username => Self::username_taken(),
        }
    }

    pub fn user_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "No user has this id.")
    }
}
