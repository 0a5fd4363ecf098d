//! The session lifecycle: a login starts a session, each refresh rotates its token inside one
//! transaction, reuse of a rotated token ends the session, logout ends it on purpose.

use chrono::{DateTime, NaiveDateTime};
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::audit::{Actor, Event, Origin, Record};
use super::jwt::{IssuedPair, PairIds, RefreshClaims, TokenIssuer, TokenSubject};
use crate::db::blacklist::{BlacklistedToken, REASON_LOGOUT, REASON_ROTATED};
use crate::db::sessions::{Liveness, RevokeReason, Session, SessionOrigin};
use crate::db::users::User;
use crate::db::{self, DbConnection};
use crate::errors::{ApiError, ApiResult};

/// The `details.reason` of a `token_revoked` whose session no longer exists (it expired and
/// was flushed) or was ended.
const SESSION_GONE: &str = "the session no longer exists";
const SESSION_ENDED: &str = "the session was ended";

/// How long sessions live, and how a second use of a rotated refresh token is treated.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// Within this many seconds of the rotation, any further use is a retry (tabs refreshing
    /// at once) and gets the same pair; 0 disables the grace. The window is the only bound:
    /// a count of retries would end the session of a user with many tabs open, which is the
    /// very case the grace exists for (GoTrue's reuse interval works the same way).
    pub grace_secs: i64,
    /// A session ends this long after its login, however often it is refreshed; 0: never.
    pub max_age_secs: i64,
    /// A session ends when its newest refresh token is this old unused; 0: only that token's
    /// own lifetime bounds it.
    pub idle_secs: i64,
}

impl SessionPolicy {
    pub fn from_settings(jwt: &crate::config::JwtSettings) -> Self {
        let secs = |value: u64| i64::try_from(value).unwrap_or(i64::MAX / 4);
        Self {
            grace_secs: secs(jwt.refresh_reuse_grace_secs),
            max_age_secs: secs(jwt.session_max_secs),
            idle_secs: secs(jwt.session_idle_secs),
        }
    }

    /// Sessions that started before this are past their absolute lifetime at `now`.
    pub fn oldest_live_start(&self, now: NaiveDateTime) -> NaiveDateTime {
        if self.max_age_secs > 0 {
            now - chrono::Duration::seconds(self.max_age_secs)
        } else {
            NaiveDateTime::MIN
        }
    }
}

/// How a session started, as its owner sees it in the session list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInMethod<'a> {
    /// A password login, or the registration that set the password.
    Password,
    /// An OpenID Connect sign-in through this provider id.
    Oidc(&'a str),
    EmailLink,
    EmailCode,
    /// The emailed password reset, which signs in.
    PasswordReset,
    /// A simplejwt refresh token exchanged during the cut-over from Django.
    Simplejwt,
}

impl SignInMethod<'_> {
    pub fn label(self) -> String {
        match self {
            SignInMethod::Password => "password".into(),
            SignInMethod::Oidc(provider) => format!("oidc:{provider}"),
            SignInMethod::EmailLink => "email-link".into(),
            SignInMethod::EmailCode => "email-code".into(),
            SignInMethod::PasswordReset => "password-reset".into(),
            SignInMethod::Simplejwt => "django-simplejwt".into(),
        }
    }
}

/// Starts a session for a user who just proved who they are, records the sign-in, and issues
/// its first pair.
pub fn start(
    conn: &mut DbConnection,
    issuer: &TokenIssuer,
    user: &User,
    origin: &SessionOrigin,
) -> ApiResult<IssuedPair> {
    let (session, ids) = prepare(issuer, user, origin)?;
    // Signed before anything is written: without a signing key nothing is started.
    let pair = issuer.issue(&subject(user), &ids)?;
    open(conn, &session, user, origin)?;
    Ok(pair)
}

/// `start` with the signing left for after the transaction (see `PairToSign`): for a sign-in
/// that must also write in the same transaction what the new pair replaced.
pub fn begin(
    conn: &mut DbConnection,
    issuer: &TokenIssuer,
    user: &User,
    origin: &SessionOrigin,
) -> ApiResult<PairToSign> {
    let (session, ids) = prepare(issuer, user, origin)?;
    open(conn, &session, user, origin)?;
    Ok(PairToSign {
        user: user.clone(),
        ids,
    })
}

/// A new session of an active user, lasting as long as its first refresh token.
fn prepare(
    issuer: &TokenIssuer,
    user: &User,
    origin: &SessionOrigin,
) -> ApiResult<(Session, PairIds)> {
    if !user.is_active {
        return Err(ApiError::user_inactive());
    }
    let mut session = Session::start(&user.id, origin, db::now(), db::now());
    let ids = PairIds::fresh(&session.id);
    session.expires_at = from_unix(ids.issued_at + issuer.refresh_ttl_secs());
    Ok((session, ids))
}

fn open(
    conn: &mut DbConnection,
    session: &Session,
    user: &User,
    origin: &SessionOrigin,
) -> ApiResult<()> {
    session.insert(conn)?;
    User::record_login(conn, &user.id, session.created_at)?;
    // Every sign-in passes here, whatever its method: one place records them.
    Record::new(Event::LoginSucceeded, Some(&user.id))
        .detail("method", origin.method.as_str())
        .detail("sessionId", session.id.as_str())
        .write(conn, &Origin::from(origin))?;
    Ok(())
}

/// A pair whose rows are written, still to be signed: signing happens after the database
/// work, so the connection (and on SQLite the writer's turn) is not held while it runs.
pub struct PairToSign {
    user: User,
    ids: PairIds,
}

impl PairToSign {
    /// The ids of the pair, written as what a claimed token was replaced by.
    pub fn ids(&self) -> &PairIds {
        &self.ids
    }

    pub fn sign(&self, issuer: &TokenIssuer) -> ApiResult<IssuedPair> {
        issuer.issue(&subject(&self.user), &self.ids)
    }
}

/// Exchanges a verified refresh token for a new pair. Claiming the old token is an insert of
/// its jti into the blacklist: of any number of concurrent refreshes with one token exactly
/// one insert succeeds; the others take the reuse path. Nothing is written when the session
/// is not live.
pub fn rotate(
    conn: &mut DbConnection,
    issuer: &TokenIssuer,
    policy: SessionPolicy,
    presented: &RefreshClaims,
    origin: &Origin,
) -> ApiResult<PairToSign> {
    let now = db::now();
    // The presented token is the session's newest (each is used once), so its iat is the
    // session's last activity.
    if policy.idle_secs > 0 && now.and_utc().timestamp() - presented.iat > policy.idle_secs {
        return Err(ApiError::session_expired(
            "the session was idle longer than jwt.session_idle_secs",
        ));
    }
    let next = PairIds::fresh(&presented.sid);
    let claim = rotated_claim(&presented.jti, &presented.sub, presented.exp, &next);
    let pair_expiry = from_unix(next.issued_at + issuer.refresh_ttl_secs());
    match claim.claim_for_live_session(conn, pair_expiry, policy.oldest_live_start(now)) {
        Ok(Some(user)) => Ok(PairToSign { user, ids: next }),
        // No live session. A token that was already used still takes the reuse path, as it
        // would have had the session been live; otherwise say why the session is not.
        Ok(None) if BlacklistedToken::find(conn, &presented.jti)?.is_some() => {
            replay_or_revoke(conn, policy, presented, origin)
        }
        Ok(None) => Err(
            live_session_user(conn, &policy, &presented.sid, &presented.sub)
                .err()
                .unwrap_or_else(|| ApiError::token_revoked(SESSION_ENDED)),
        ),
        Err(error) if db::is_unique_violation(&error) => {
            replay_or_revoke(conn, policy, presented, origin)
        }
        // The session row is gone (flushed after it expired).
        Err(DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)) => {
            Err(ApiError::token_revoked(SESSION_GONE))
        }
        Err(error) => Err(error.into()),
    }
}

/// The blacklist row that claims a refresh token (of `user_id`, expiring at `exp`) for the
/// pair `next` of the same session.
pub(super) fn rotated_claim(
    jti: &str,
    user_id: &str,
    exp: i64,
    next: &PairIds,
) -> BlacklistedToken {
    BlacklistedToken {
        jti: jti.to_owned(),
        session_id: next.session_id.clone(),
        user_id: user_id.to_owned(),
        reason: REASON_ROTATED.to_owned(),
        expires_at: from_unix(exp),
        blacklisted_at: db::now(),
        replaced_by_jti: Some(next.refresh_jti.clone()),
        replaced_by_access_jti: Some(next.access_jti.clone()),
        replaced_at: Some(from_unix(next.issued_at)),
        replays: 0,
    }
}

/// The presented token was already blacklisted. A logged-out token is revoked; a rotated one
/// is either a retry within the grace period (same pair again) or reuse, which ends the
/// whole session because the token has probably been stolen.
pub(super) fn replay_or_revoke(
    conn: &mut DbConnection,
    policy: SessionPolicy,
    presented: &RefreshClaims,
    origin: &Origin,
) -> ApiResult<PairToSign> {
    let Some(used) = BlacklistedToken::find(conn, &presented.jti)? else {
        return Err(ApiError::token_revoked(SESSION_GONE));
    };
    if used.reason != REASON_ROTATED {
        return Err(ApiError::token_revoked("this refresh token was logged out"));
    }
    let age = db::now() - used.blacklisted_at;
    let in_grace = policy.grace_secs > 0 && age.num_milliseconds() <= policy.grace_secs * 1000;
    if in_grace {
        let user = live_session_user(conn, &policy, &presented.sid, &presented.sub)?;
        if let (Some(refresh_jti), Some(access_jti), Some(issued_at)) = (
            used.replaced_by_jti,
            used.replaced_by_access_jti,
            used.replaced_at,
        ) {
            BlacklistedToken::record_replay(conn, &presented.jti)?;
            let same_pair = PairIds {
                session_id: presented.sid.clone(),
                refresh_jti,
                access_jti,
                issued_at: issued_at.and_utc().timestamp(),
            };
            return Ok(PairToSign {
                user,
                ids: same_pair,
            });
        }
    }
    if Session::revoke(
        conn,
        &presented.sid,
        &presented.sub,
        RevokeReason::TokenReused,
    )? {
        log::warn!(
            "refresh token reuse: session {} of user {} revoked",
            presented.sid,
            presented.sub
        );
        Record::new(Event::RefreshReuseDetected, Some(&presented.sub))
            .by(Actor::Anonymous)
            .detail("sessionId", presented.sid.as_str())
            .write(conn, origin)?;
    }
    Err(ApiError::token_reused())
}

/// The user behind a bearer token, if its session is still live: what every route that
/// reads the database for the caller checks.
pub fn current_user(
    conn: &mut DbConnection,
    policy: &SessionPolicy,
    caller: &super::AuthenticatedUser,
) -> ApiResult<User> {
    live_session_user(conn, policy, &caller.session_id, &caller.user_id)
}

/// The user of a session that is still live, or why there is none: the check behind every
/// route that reads the database for a token (refresh, me, password change).
pub fn live_session_user(
    conn: &mut DbConnection,
    policy: &SessionPolicy,
    session_id: &str,
    user_id: &str,
) -> ApiResult<User> {
    let Some((session, user)) = Session::find_with_user(conn, session_id)? else {
        return Err(ApiError::token_revoked(SESSION_GONE));
    };
    match session.liveness(&user, user_id, policy.oldest_live_start(db::now())) {
        Liveness::Live => Ok(user),
        Liveness::TooOld => Err(ApiError::session_expired(
            "the session is older than jwt.session_max_secs",
        )),
        Liveness::UserInactive => Err(ApiError::user_inactive()),
        Liveness::Ended => Err(ApiError::token_revoked(match &session.revoked_reason {
            Some(reason) => format!("the session was ended ({reason})"),
            None => SESSION_ENDED.to_owned(),
        })),
    }
}

/// Ends the session of a refresh token and blacklists the token. Idempotent: true only when
/// a live session ended (a replayed logout writes nothing, audit event included).
pub fn end(conn: &mut DbConnection, presented: &RefreshClaims) -> ApiResult<bool> {
    if Session::find_with_user(conn, &presented.sid)?.is_none() {
        return Ok(false);
    }
    let ended = Session::revoke(conn, &presented.sid, &presented.sub, RevokeReason::Logout)?;
    let row = BlacklistedToken {
        jti: presented.jti.clone(),
        session_id: presented.sid.clone(),
        user_id: presented.sub.clone(),
        reason: REASON_LOGOUT.to_owned(),
        expires_at: from_unix(presented.exp),
        blacklisted_at: db::now(),
        replaced_by_jti: None,
        replaced_by_access_jti: None,
        replaced_at: None,
        replays: 0,
    };
    match row.insert(conn) {
        Ok(_) => Ok(ended),
        Err(error) if db::is_unique_violation(&error) => Ok(ended),
        Err(error) => Err(error.into()),
    }
}

/// Ends every session of a user, except `keep`; returns how many ended.
pub fn end_all(
    conn: &mut DbConnection,
    user_id: &str,
    keep: Option<&str>,
    reason: RevokeReason,
) -> ApiResult<usize> {
    Ok(Session::revoke_all_of_user(conn, user_id, keep, reason)?)
}

/// Deletes blacklist rows of expired tokens and sessions whose last token expired.
pub fn flush_expired(conn: &mut DbConnection) -> ApiResult<(usize, usize)> {
    let now = db::now();
    let tokens = BlacklistedToken::delete_expired(conn, now)?;
    let sessions = Session::delete_expired(conn, now)?;
    crate::db::oidc_states::OidcState::delete_expired(conn, now)?;
    crate::db::email_tokens::EmailToken::delete_expired(conn, now)?;
    crate::db::simplejwt_blacklist::SimplejwtBlacklisted::delete_expired(conn, now)?;
    Ok((tokens, sessions))
}

fn subject(user: &User) -> TokenSubject<'_> {
    TokenSubject {
        user_id: &user.id,
        email: &user.email,
        is_staff: user.is_staff,
    }
}

fn from_unix(secs: i64) -> NaiveDateTime {
    DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .naive_utc()
}
