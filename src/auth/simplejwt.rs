//! The cut-over from Django + djangorestframework-simplejwt: until `django.accept_simplejwt_until`
//! a refresh token that simplejwt issued may be exchanged, once, for an authd pair of the user
//! `authd import-django` brought over. This is the only place a simplejwt token is read; no
//! access-token path and no verify route accepts one.

use chrono::{DateTime, Utc};
use diesel::Connection as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use serde_json::Value;

use super::audit::Origin;
use super::jwt::{RefreshClaims, TokenIssuer};
use super::sessions::{self, PairToSign, SessionPolicy};
use crate::config::DjangoSettings;
use crate::db::blacklist::BlacklistedToken;
use crate::db::sessions::SessionOrigin;
use crate::db::simplejwt_blacklist::SimplejwtBlacklisted;
use crate::db::users::User;
use crate::db::{self, DbConnection};
use crate::errors::{ApiError, ApiResult};

/// Claimed simplejwt tokens share authd's blacklist; the prefix keeps their jtis apart from
/// authd's own.
const JTI_PREFIX: &str = "simplejwt:";

/// The window and the key simplejwt signed with.
pub struct SimplejwtCutover {
    until: DateTime<Utc>,
    key: DecodingKey,
    user_id_claim: String,
}

/// A simplejwt refresh token whose signature, type and expiry were checked.
#[derive(Debug)]
pub struct SimplejwtRefresh {
    pub jti: String,
    pub legacy_user_id: String,
    pub exp: i64,
}

impl SimplejwtCutover {
    /// `None` when no window is configured (the settings check refuses half a configuration).
    pub fn from_settings(settings: &DjangoSettings) -> Result<Option<Self>, String> {
        let Some(until) = settings.window_end()? else {
            return Ok(None);
        };
        let secret = settings.secret()?;
        if secret.expose_secret().is_empty() {
            return Err("django.accept_simplejwt_until needs django.secret_key".into());
        }
        Ok(Some(Self {
            until,
            key: DecodingKey::from_secret(secret.expose_secret().as_bytes()),
            user_id_claim: settings.user_id_claim.trim().to_owned(),
        }))
    }

    /// Whether `token` is simplejwt's to check at `now`: the window is open and the header is
    /// simplejwt's (HS256, no kid). authd always names its key, so no authd token is taken
    /// for one of simplejwt's, whatever authd's own algorithm.
    pub fn claims(&self, token: &str, now: DateTime<Utc>) -> bool {
        now < self.until
            && jsonwebtoken::decode_header(token)
                .is_ok_and(|header| header.alg == Algorithm::HS256 && header.kid.is_none())
    }

    /// Checks the token as simplejwt would: HS256 under the Django secret (the algorithm
    /// pinned), not expired (no leeway), `token_type` "refresh", a `jti` and the user id claim.
    pub fn verify(&self, token: &str) -> ApiResult<SimplejwtRefresh> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        // simplejwt sets no audience unless the project configured one; the secret is what
        // makes the token Django's.
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp"]);
        let claims =
            jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &self.key, &validation)
                .map_err(|error| match error.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => ApiError::token_expired(),
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                        ApiError::token_invalid("the simplejwt token's signature does not verify")
                    }
                    _ => ApiError::token_invalid("the simplejwt token is malformed"),
                })?
                .claims;
        if claims.get("token_type").and_then(Value::as_str) != Some("refresh") {
            return Err(ApiError::token_invalid(
                "expected a simplejwt refresh token",
            ));
        }
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .filter(|jti| is_identifier(jti))
            .ok_or_else(|| ApiError::token_invalid("the simplejwt token has no usable jti"))?;
        let legacy_user_id = match claims.get(&self.user_id_claim) {
            Some(Value::String(id)) if is_identifier(id) => id.clone(),
            Some(Value::Number(id)) if id.is_u64() || id.is_i64() => id.to_string(),
            _ => {
                return Err(ApiError::token_invalid(format!(
                    "the simplejwt token has no {} claim",
                    self.user_id_claim
                )))
            }
        };
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .unwrap_or_default();
        Ok(SimplejwtRefresh {
            jti: format!("{JTI_PREFIX}{jti}"),
            legacy_user_id,
            exp,
        })
    }
}

fn is_identifier(value: &str) -> bool {
    (1..=255).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic())
}

/// Exchanges a checked simplejwt refresh token for the first pair of a new authd session.
/// Claiming the token is an insert of its jti into authd's blacklist, in the transaction that
/// starts the session: of concurrent exchanges exactly one starts a session. A second use is
/// a retry within the grace period (the same pair) or reuse, which ends the session it
/// started, exactly as for authd's own refresh tokens.
pub fn exchange(
    conn: &mut DbConnection,
    issuer: &TokenIssuer,
    policy: SessionPolicy,
    token: &SimplejwtRefresh,
    origin: &SessionOrigin,
) -> ApiResult<PairToSign> {
    let audit_origin = Origin::from(origin);
    if let Some(used) = BlacklistedToken::find(conn, &token.jti)? {
        return replay(conn, policy, token, &used, &audit_origin);
    }
    let django_jti = token.jti.trim_start_matches(JTI_PREFIX);
    if SimplejwtBlacklisted::contains(conn, django_jti)? {
        return Err(ApiError::token_revoked(
            "simplejwt had blacklisted this refresh token (logged out or rotated)",
        ));
    }
    let Some(user) = User::find_by_legacy_id(conn, &token.legacy_user_id)? else {
        return Err(ApiError::token_invalid(
            "no imported user has the simplejwt token's user id",
        ));
    };
    let claimed = conn.transaction(|conn| {
        let started = sessions::begin(conn, issuer, &user, origin)?;
        sessions::rotated_claim(&token.jti, &user.id, token.exp, started.ids()).insert(conn)?;
        Ok::<_, ApiError>(started)
    });
    match claimed {
        Ok(started) => Ok(started),
        // Another exchange of the same token committed first.
        Err(error) => match BlacklistedToken::find(conn, &token.jti)? {
            Some(used) => replay(conn, policy, token, &used, &audit_origin),
            None => Err(error),
        },
    }
}

/// A second use of a claimed simplejwt token is always refused: simplejwt had no grace for
/// it and its clients expect none. Within authd's grace period it is taken for another tab
/// refreshing at the same moment and the session stays; after it, the token was probably
/// copied and the session it started ends, as for authd's own tokens.
fn replay(
    conn: &mut DbConnection,
    policy: SessionPolicy,
    token: &SimplejwtRefresh,
    used: &BlacklistedToken,
    origin: &Origin,
) -> ApiResult<PairToSign> {
    let age = db::now() - used.blacklisted_at;
    if policy.grace_secs > 0 && age.num_milliseconds() <= policy.grace_secs * 1000 {
        return Err(ApiError::token_reused().with_reason(
            "this simplejwt refresh token was exchanged moments ago (another tab?); that \
             session goes on",
        ));
    }
    let presented = RefreshClaims {
        iss: String::new(),
        aud: String::new(),
        sub: used.user_id.clone(),
        exp: token.exp,
        iat: 0,
        jti: token.jti.clone(),
        sid: used.session_id.clone(),
        token_type: String::new(),
    };
    let no_grace = SessionPolicy {
        grace_secs: 0,
        ..policy
    };
    sessions::replay_or_revoke(conn, no_grace, &presented, origin)
}
