//! `authd import-django`: Django's users (and simplejwt's blacklist) brought into authd. The
//! whole `auth_user` table is read and planned first (`plan.rs`), so that a conflict stops the
//! import before anything is written; then the users are written in batches, each batch one
//! transaction. Users are matched on their Django id (`users.legacy_id`): a second run
//! updates what the first wrote.

pub mod plan;

use std::collections::{BTreeMap, HashMap};

use diesel::Connection as _;
use serde::Serialize;

use self::plan::{Candidate, Conflict, Existing, Extras, Plan};
use super::audit::{Actor, Event, Origin, Record};
use crate::db::django_source::{DjangoSource, DjangoUserRow, ProfileColumn};
use crate::db::imported_users::{self, ImportChanges};
use crate::db::sessions::{RevokeReason, Session};
use crate::db::simplejwt_blacklist::SimplejwtBlacklisted;
use crate::db::users::User;
use crate::db::{self, DbConnection};

/// Rows read from Django per query.
const READ_BATCH: i64 = 2000;

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub dry_run: bool,
    pub skip_conflicts: bool,
    /// Users written per transaction.
    pub batch_size: usize,
    /// Where Django keeps the phone number, if it does.
    pub phone: Option<ProfileColumn>,
    /// Every imported address counts as verified (Django itself does not verify; allauth's
    /// verified addresses are taken without this).
    pub emails_verified: bool,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    pub dry_run: bool,
    /// Users in Django's `auth_user`.
    pub users: usize,
    pub created: usize,
    pub updated: usize,
    /// Imported before, and nothing changed since.
    pub unchanged: usize,
    /// Django users not imported (each has a conflict).
    pub skipped: usize,
    pub conflicts: Vec<Conflict>,
    /// Users by password format; formats authd cannot verify need a password reset.
    pub hash_formats: BTreeMap<String, usize>,
    pub unverifiable_hashes: usize,
    /// simplejwt's blacklisted refresh tokens not yet expired, newly recorded.
    pub blacklisted_tokens: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the Django database: {0}")]
    Source(String),
    #[error("authd's database: {0}")]
    Database(#[from] diesel::result::Error),
    /// Conflicts would lose data and `--skip-conflicts` was not given; nothing was written.
    #[error("{} conflicts would lose data; nothing was imported (see the report, or pass --skip-conflicts)", .0.conflicts.len())]
    Conflicts(Box<ImportReport>),
}

/// Reads, plans and (unless a dry run) writes. `progress` hears (users written, users to write).
pub fn run(
    source: &mut DjangoSource,
    conn: &mut DbConnection,
    options: &ImportOptions,
    origin: &Origin,
    mut progress: impl FnMut(usize, usize),
) -> Result<ImportReport, ImportError> {
    let source_error = |e: diesel::result::Error| ImportError::Source(e.to_string());
    let rows = read_users(source).map_err(source_error)?;
    let extras = read_extras(source, options).map_err(source_error)?;
    let (email_keys, username_keys) = plan::keys_of(&rows);
    imported_users::prefer_btree_lookups(conn)?;
    let (emails, usernames) = imported_users::holders(conn, &email_keys, &username_keys)?;
    let Plan {
        candidates,
        conflicts,
        skipped,
        hash_formats,
    } = plan::plan(&rows, &extras, &Existing { emails, usernames });
    let unverifiable_hashes = hash_formats
        .iter()
        .filter(|(format, _)| {
            !plan::VERIFIED_HASH_FORMATS.contains(&format.as_str()) && *format != "unusable"
        })
        .map(|(_, count)| count)
        .sum();
    let mut report = ImportReport {
        dry_run: options.dry_run,
        users: rows.len(),
        skipped,
        conflicts,
        hash_formats,
        unverifiable_hashes,
        ..ImportReport::default()
    };
    if !report.conflicts.is_empty() && !options.skip_conflicts {
        return Err(ImportError::Conflicts(Box::new(report)));
    }
    let tokens = source.blacklisted_tokens().map_err(source_error)?;
    if options.dry_run {
        report.blacklisted_tokens = live_tokens(&tokens).len();
        return Ok(report);
    }
    let mut written = 0;
    for batch in candidates.chunks(options.batch_size.max(1)) {
        let outcomes = conn.transaction(|conn| {
            batch
                .iter()
                .map(|candidate| write_user(conn, candidate, origin))
                .collect::<diesel::QueryResult<Vec<_>>>()
        })?;
        for outcome in outcomes {
            *match outcome {
                Written::Created => &mut report.created,
                Written::Updated => &mut report.updated,
                Written::Unchanged => &mut report.unchanged,
            } += 1;
        }
        written += batch.len();
        progress(written, candidates.len());
    }
    report.blacklisted_tokens = SimplejwtBlacklisted::insert_new(conn, &live_tokens(&tokens))?;
    Ok(report)
}

fn read_users(source: &mut DjangoSource) -> diesel::QueryResult<Vec<DjangoUserRow>> {
    let mut rows = Vec::new();
    loop {
        let after = rows.last().map_or(i64::MIN, |r: &DjangoUserRow| r.id);
        let batch = source.users_after(after, READ_BATCH)?;
        let done = batch.len() < READ_BATCH as usize;
        rows.extend(batch);
        if done {
            return Ok(rows);
        }
    }
}

fn read_extras(source: &mut DjangoSource, options: &ImportOptions) -> diesel::QueryResult<Extras> {
    let phones = match &options.phone {
        Some(column) => source.profile_values(column)?.into_iter().collect(),
        None => HashMap::new(),
    };
    let mut verified_emails: HashMap<String, Vec<String>> = HashMap::new();
    for (user_id, email) in source.verified_emails()? {
        verified_emails.entry(user_id).or_default().push(email);
    }
    Ok(Extras {
        phone_mapped: options.phone.is_some(),
        phones,
        verified_emails,
        all_emails_verified: options.emails_verified,
    })
}

fn live_tokens(
    tokens: &[crate::db::django_source::DjangoBlacklistedToken],
) -> Vec<SimplejwtBlacklisted> {
    let now = db::now();
    tokens
        .iter()
        .filter_map(|t| {
            let expires_at = t.expires_at.filter(|at| *at > now)?;
            Some(SimplejwtBlacklisted {
                jti: t.jti.clone(),
                legacy_user_id: t.user_id.clone(),
                expires_at,
            })
        })
        .collect()
}

enum Written {
    Created,
    Updated,
    Unchanged,
}

/// Creates or updates one user.
fn write_user(
    conn: &mut DbConnection,
    candidate: &Candidate,
    origin: &Origin,
) -> diesel::QueryResult<Written> {
    let now = db::now();
    let username = candidate.username.as_ref();
    let Some(existing) = User::find_by_legacy_id(conn, &candidate.legacy_id)? else {
        let user = User {
            username: username.map(|u| u.as_str().to_owned()),
            username_key: username.map(|u| u.key()),
            password_hash: candidate.password_hash.clone(),
            first_name: candidate.first_name.clone(),
            last_name: candidate.last_name.clone(),
            phone: candidate.phone.clone().unwrap_or_default(),
            email_verified: candidate.email_verified,
            is_active: candidate.is_active,
            is_staff: candidate.is_staff,
            created_at: candidate.created_at,
            legacy_id: Some(candidate.legacy_id.clone()),
            last_login_at: candidate.last_login_at,
            ..User::new_account(candidate.email.as_str(), candidate.email.key(), now)
        };
        user.insert(conn)?;
        Record::new(Event::AdminUserCreated, Some(&user.id))
            .by(Actor::Cli)
            .detail("source", "django")
            .detail("legacyId", candidate.legacy_id.as_str())
            .write(conn, origin)?;
        return Ok(Written::Created);
    };
    // A password set in authd (at a login, which upgraded the Django hash, or by a reset)
    // is newer than Django's: keep it.
    let authd_password = existing
        .password_hash
        .as_deref()
        .is_some_and(|hash| hash.starts_with("$argon2"));
    let same_email = existing.email == candidate.email.as_str();
    let changed = !same_email
        || existing.username.as_deref() != username.map(|u| u.as_str())
        || existing.first_name != candidate.first_name
        || existing.last_name != candidate.last_name
        || candidate
            .phone
            .as_ref()
            .is_some_and(|p| *p != existing.phone)
        || existing.is_active != candidate.is_active
        || existing.is_staff != candidate.is_staff
        || (!authd_password && existing.password_hash != candidate.password_hash)
        || (candidate.email_verified && !existing.email_verified);
    if !changed {
        return Ok(Written::Unchanged);
    }
    let changes = ImportChanges {
        email: Some(candidate.email.as_str().to_owned()),
        email_key: Some(candidate.email.key()),
        username: Some(username.map(|u| u.as_str().to_owned())),
        username_key: Some(username.map(|u| u.key())),
        password_hash: (!authd_password).then(|| candidate.password_hash.clone()),
        first_name: Some(candidate.first_name.clone()),
        last_name: Some(candidate.last_name.clone()),
        phone: candidate.phone.clone(),
        email_verified: if same_email {
            // Never takes a verification back; allauth or --emails-verified may add one.
            candidate.email_verified.then_some(true)
        } else {
            Some(candidate.email_verified)
        },
        is_active: Some(candidate.is_active),
        is_staff: Some(candidate.is_staff),
        last_login_at: Some(existing.last_login_at.max(candidate.last_login_at)),
        updated_at: Some(now),
    };
    imported_users::update(conn, &existing.id, &changes)?;
    if existing.is_active && !candidate.is_active {
        Session::revoke_all_of_user(conn, &existing.id, None, RevokeReason::Deactivated)?;
    }
    Record::new(Event::AdminUserUpdated, Some(&existing.id))
        .by(Actor::Cli)
        .detail("source", "django")
        .detail("legacyId", candidate.legacy_id.as_str())
        .write(conn, origin)?;
    Ok(Written::Updated)
}
