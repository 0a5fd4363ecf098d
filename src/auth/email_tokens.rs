//! Tokens sent by email, and the messages that carry them.
//!
//! - 256 random bits, sent once; only their SHA-256 is stored.
//! - Each is for one purpose and one user (or, for a sign-in that may create the account, one
//!   address), single use, with the purpose's lifetime.
//! - What the user's email and password were at issue is kept (the password as a fingerprint
//!   of its hash): a reset or email change token dies when either changes, a verification or
//!   sign-in token when the email changes.
//! - The message goes to the outbox in the caller's transaction: a token is never committed
//!   without its message, nor a message sent for a token that was rolled back.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::NaiveDateTime;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::config::EmailSettings;
use crate::db::email_tokens::EmailToken;
use crate::db::outbox::OutboxMessage;
use crate::db::users::User;
use crate::db::DbConnection;
use crate::errors::{ApiError, ApiResult};
use crate::mail::templates::{human_duration, MessageContext};
use crate::mail::MailState;

/// Wrong codes a sign-in token takes before it dies.
pub const MAX_CODE_ATTEMPTS: i32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
    EmailSignin,
    ChangeEmail,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::ResetPassword => "reset_password",
            Purpose::EmailSignin => "email_signin",
            Purpose::ChangeEmail => "change_email",
        }
    }

    fn ttl_secs(self, settings: &EmailSettings) -> u64 {
        match self {
            Purpose::VerifyEmail => settings.verification_ttl_secs,
            Purpose::ResetPassword => settings.reset_ttl_secs,
            Purpose::EmailSignin => settings.signin_ttl_secs,
            Purpose::ChangeEmail => settings.change_ttl_secs,
        }
    }

    fn path(self, settings: &EmailSettings) -> &str {
        match self {
            Purpose::VerifyEmail => &settings.verify_path,
            Purpose::ResetPassword => &settings.reset_path,
            Purpose::EmailSignin => &settings.signin_path,
            Purpose::ChangeEmail => &settings.change_path,
        }
    }

    /// Whether a change of the user's password ends the token.
    fn dies_with_password(self) -> bool {
        matches!(self, Purpose::ResetPassword | Purpose::ChangeEmail)
    }
}

fn sha256_hex(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Stands for the password in a token: a change of the password changes it.
fn password_fingerprint(user: Option<&User>) -> String {
    user.and_then(|u| u.password_hash.as_deref())
        .map(sha256_hex)
        .unwrap_or_default()
}

/// Writes a token for `purpose` and the message that carries it, to `to` (the user's address,
/// or the new one for an email change). Call it inside the transaction that needs it.
pub fn issue(
    conn: &mut DbConnection,
    mail: &MailState,
    purpose: Purpose,
    user: Option<&User>,
    to: &str,
    now: NaiveDateTime,
) -> ApiResult<()> {
    let settings = &mail.settings;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let code = (purpose == Purpose::EmailSignin)
        .then(|| format!("{:06}", rand::rngs::OsRng.next_u32() % 1_000_000));
    let ttl = purpose.ttl_secs(settings);
    let current_email = user.map_or(to, |u| u.email.as_str());
    EmailToken {
        token_hash: sha256_hex(&token),
        purpose: purpose.as_str().to_owned(),
        user_id: user.map(|u| u.id.clone()),
        email: to.to_owned(),
        email_at_issue: current_email.to_owned(),
        password_at_issue: password_fingerprint(user),
        code_hash: code.as_deref().map(sha256_hex),
        code_attempts: 0,
        created_at: now,
        expires_at: now + chrono::Duration::seconds(i64::try_from(ttl).unwrap_or(86400)),
        used_at: None,
    }
    .insert(conn)?;
    let link = format!(
        "{}{}?token={token}",
        settings.link_base_url.trim_end_matches('/'),
        purpose.path(settings)
    );
    let new_email = (purpose == Purpose::ChangeEmail).then_some(to);
    let context = MessageContext {
        product_name: &settings.product_name,
        email: current_email,
        new_email,
        link: Some(&link),
        code: code.as_deref(),
        expires_in: human_duration(ttl),
    };
    let rendered = mail
        .templates
        .render(purpose.as_str(), &context)
        .map_err(ApiError::internal)?;
    OutboxMessage::new(to, &rendered.subject, &rendered.text, &rendered.html, now).insert(conn)?;
    Ok(())
}

/// A message without a token (the notice to the old address of an email change).
pub fn notify(
    conn: &mut DbConnection,
    mail: &MailState,
    kind: &str,
    to: &str,
    new_email: &str,
    now: NaiveDateTime,
) -> ApiResult<()> {
    let context = MessageContext {
        product_name: &mail.settings.product_name,
        email: to,
        new_email: Some(new_email),
        link: None,
        code: None,
        expires_in: String::new(),
    };
    let rendered = mail
        .templates
        .render(kind, &context)
        .map_err(ApiError::internal)?;
    OutboxMessage::new(to, &rendered.subject, &rendered.text, &rendered.html, now).insert(conn)?;
    Ok(())
}

/// Uses up a token of `purpose` and returns it with its user, or says why it cannot be used:
/// 400 `token_invalid` (unknown, another purpose, the user's email or password changed since),
/// `token_expired` or `token_used`.
pub fn redeem(
    conn: &mut DbConnection,
    purpose: Purpose,
    token: &str,
    now: NaiveDateTime,
) -> ApiResult<(EmailToken, Option<User>)> {
    let found = find_for(conn, purpose, token)?;
    use_token(conn, purpose, found, now)
}

/// The checks of `redeem`, without using the token up: for a flow that has more to check
/// (the new password's policy) before it commits to the token.
pub fn inspect(
    conn: &mut DbConnection,
    purpose: Purpose,
    token: &str,
    now: NaiveDateTime,
) -> ApiResult<(EmailToken, Option<User>)> {
    let found = find_for(conn, purpose, token)?;
    check(conn, purpose, found, now)
}

fn find_for(conn: &mut DbConnection, purpose: Purpose, token: &str) -> ApiResult<EmailToken> {
    EmailToken::find(conn, &sha256_hex(token))?
        .filter(|row| row.purpose == purpose.as_str())
        .ok_or_else(|| ApiError::email_token_invalid("the token is unknown or for another purpose"))
}

/// What a typed code did: signed in, or counted as wrong. A wrong code is not an `Err`: its
/// count must be committed, while an `Err` rolls the caller's transaction back.
pub enum CodeCheck {
    Redeemed(Box<(EmailToken, Option<User>)>),
    Wrong,
}

/// The refusal of a wrong code (after its count is committed).
pub fn wrong_code() -> ApiError {
    ApiError::email_token_invalid("the code is wrong; after 5 wrong codes it stops working")
}

/// Sign-in by code: the newest sign-in token sent to `email` whose code matches. A wrong code
/// counts against that token, which dies after `MAX_CODE_ATTEMPTS`.
pub fn redeem_code(
    conn: &mut DbConnection,
    email: &str,
    user: Option<&User>,
    code: &str,
    now: NaiveDateTime,
) -> ApiResult<CodeCheck> {
    let address = user.map_or(email, |u| u.email.as_str());
    let Some(found) =
        EmailToken::latest_with_code(conn, Purpose::EmailSignin.as_str(), address, now)?
    else {
        return Err(ApiError::email_token_invalid(
            "no sign-in code is waiting for this address",
        ));
    };
    let matches = found
        .code_hash
        .as_deref()
        .is_some_and(|expected| constant_time_eq(expected, &sha256_hex(code.trim())));
    if !matches {
        EmailToken::count_wrong_code(conn, &found.token_hash, MAX_CODE_ATTEMPTS, now)?;
        return Ok(CodeCheck::Wrong);
    }
    let redeemed = use_token(conn, Purpose::EmailSignin, found, now)?;
    Ok(CodeCheck::Redeemed(Box::new(redeemed)))
}

fn use_token(
    conn: &mut DbConnection,
    purpose: Purpose,
    found: EmailToken,
    now: NaiveDateTime,
) -> ApiResult<(EmailToken, Option<User>)> {
    let (found, user) = check(conn, purpose, found, now)?;
    if !EmailToken::use_once(conn, &found.token_hash, now)? {
        return Err(ApiError::email_token_used());
    }
    Ok((found, user))
}

fn check(
    conn: &mut DbConnection,
    purpose: Purpose,
    found: EmailToken,
    now: NaiveDateTime,
) -> ApiResult<(EmailToken, Option<User>)> {
    if found.used_at.is_some() {
        return Err(ApiError::email_token_used());
    }
    if found.expires_at <= now {
        return Err(ApiError::email_token_expired());
    }
    let user = match &found.user_id {
        Some(id) => Some(User::find_by_id(conn, id)?),
        None => None,
    };
    if let Some(user) = &user {
        if user.email != found.email_at_issue {
            return Err(ApiError::email_token_invalid(
                "the account's email changed since this token was sent",
            ));
        }
        if purpose.dies_with_password()
            && password_fingerprint(Some(user)) != found.password_at_issue
        {
            return Err(ApiError::email_token_invalid(
                "the account's password changed since this token was sent",
            ));
        }
    }
    Ok((found, user))
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}
