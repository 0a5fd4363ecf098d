//! What an import will do with each Django user, decided before anything is written: which
//! users come over, with which fields, and every conflict that would lose data. No database
//! here: the rows and what authd already holds are passed in.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::db::django_source::DjangoUserRow;
use crate::domain::{PersonName, Phone, UserEmail, Username};

/// The formats authd verifies at login (and then upgrades to argon2id).
pub const VERIFIED_HASH_FORMATS: [&str; 6] = [
    "pbkdf2_sha256",
    "pbkdf2_sha1",
    "argon2",
    "bcrypt_sha256",
    "bcrypt",
    "scrypt",
];

/// A Django user as authd will store them.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub legacy_id: String,
    pub email: UserEmail,
    pub username: Option<Username>,
    pub first_name: String,
    pub last_name: String,
    /// `None`: no profile column was mapped, so authd's phone is left as it is.
    pub phone: Option<String>,
    /// Exactly as Django stored it; `None` for an empty one.
    pub password_hash: Option<String>,
    pub is_active: bool,
    pub is_staff: bool,
    pub email_verified: bool,
    pub created_at: NaiveDateTime,
    pub last_login_at: Option<NaiveDateTime>,
}

/// Something the import cannot carry over as it is.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    pub legacy_id: String,
    pub username: String,
    pub email: String,
    /// `no_email`, `invalid_email`, `duplicate_email`, `email_taken`, `invalid_username`,
    /// `duplicate_username`, `username_taken`, `invalid_first_name`, `invalid_last_name`,
    /// `invalid_phone`.
    pub kind: &'static str,
    pub detail: String,
    /// What `--skip-conflicts` does: `user skipped` or `field dropped`.
    pub resolution: &'static str,
}

const USER_SKIPPED: &str = "user skipped";
const FIELD_DROPPED: &str = "field dropped";

/// Extra facts about Django users, by Django id: the mapped profile phone, allauth's verified
/// addresses.
#[derive(Debug, Default)]
pub struct Extras {
    pub phone_mapped: bool,
    pub phones: HashMap<String, String>,
    pub verified_emails: HashMap<String, Vec<String>>,
    /// `--emails-verified`: every imported address counts as verified.
    pub all_emails_verified: bool,
}

/// Which authd users hold an email or username key now, and the Django id they were imported
/// from (`None`: an account made in authd).
#[derive(Debug, Default)]
pub struct Existing {
    pub emails: HashMap<String, Option<String>>,
    pub usernames: HashMap<String, Option<String>>,
}

#[derive(Debug, Default)]
pub struct Plan {
    pub candidates: Vec<Candidate>,
    pub conflicts: Vec<Conflict>,
    /// Django users that will not be imported.
    pub skipped: usize,
    /// How many users have each password format (`unusable` for `!`, `empty`).
    pub hash_formats: BTreeMap<String, usize>,
}

/// The email and username keys the rows would take, to look up in authd first.
pub fn keys_of(rows: &[DjangoUserRow]) -> (Vec<String>, Vec<String>) {
    let emails = rows
        .iter()
        .filter_map(|r| UserEmail::parse(&r.email).ok().map(|e| e.key()))
        .collect();
    let usernames = rows
        .iter()
        .filter_map(|r| Username::parse(&r.username).ok().map(|u| u.key()))
        .collect();
    (emails, usernames)
}

/// Decides every row. When several Django users share an email (or username) under authd's
/// case folding, the one who logged in last keeps it (then the one who joined last): that is
/// the account its owner uses.
pub fn plan(rows: &[DjangoUserRow], extras: &Extras, existing: &Existing) -> Plan {
    let mut plan = Plan::default();
    let mut order: Vec<&DjangoUserRow> = rows.iter().collect();
    order.sort_by(|a, b| {
        (b.last_login, b.date_joined, a.id).cmp(&(a.last_login, a.date_joined, b.id))
    });
    let mut email_owner: HashMap<String, String> = HashMap::new();
    let mut username_owner: HashMap<String, String> = HashMap::new();
    let mut accepted = Vec::new();
    for row in order {
        let legacy_id = row.id.to_string();
        *plan
            .hash_formats
            .entry(hash_format(&row.password))
            .or_default() += 1;
        let conflict = |kind, detail: String, resolution| {
            Box::new(Conflict {
                legacy_id: legacy_id.clone(),
                username: row.username.clone(),
                email: row.email.clone(),
                kind,
                detail,
                resolution,
            })
        };
        let email = if row.email.trim().is_empty() {
            Err(conflict(
                "no_email",
                "authd needs an email for every user".into(),
                USER_SKIPPED,
            ))
        } else {
            UserEmail::parse(&row.email)
                .map_err(|reason| conflict("invalid_email", reason, USER_SKIPPED))
        };
        let email = email.and_then(|email| {
            let key = email.key();
            if let Some(kept) = email_owner.get(&key) {
                return Err(conflict(
                    "duplicate_email",
                    format!("Django user {kept} has the same email and logged in more recently"),
                    USER_SKIPPED,
                ));
            }
            match existing.emails.get(&key) {
                Some(owner) if owner.as_deref() != Some(legacy_id.as_str()) => Err(conflict(
                    "email_taken",
                    "an authd account not imported from this Django user has the email".into(),
                    USER_SKIPPED,
                )),
                _ => Ok(email),
            }
        });
        let email = match email {
            Ok(email) => email,
            Err(conflict) => {
                plan.conflicts.push(*conflict);
                plan.skipped += 1;
                continue;
            }
        };
        email_owner.insert(email.key(), legacy_id.clone());

        let username = match Username::parse(&row.username) {
            Err(reason) => Err(conflict("invalid_username", reason, FIELD_DROPPED)),
            Ok(username) => {
                let key = username.key();
                if let Some(kept) = username_owner.get(&key) {
                    Err(conflict(
                        "duplicate_username",
                        format!("Django user {kept} has the same username under case folding"),
                        FIELD_DROPPED,
                    ))
                } else if existing
                    .usernames
                    .get(&key)
                    .is_some_and(|owner| owner.as_deref() != Some(legacy_id.as_str()))
                {
                    Err(conflict(
                        "username_taken",
                        "another authd account has the username".into(),
                        FIELD_DROPPED,
                    ))
                } else {
                    Ok(username)
                }
            }
        };
        let username = match username {
            Ok(username) => {
                username_owner.insert(username.key(), legacy_id.clone());
                Some(username)
            }
            Err(conflict) => {
                plan.conflicts.push(*conflict);
                None
            }
        };
        let mut name = |kind, raw: &str| match PersonName::parse(raw) {
            Ok(name) => name.into_inner(),
            Err(reason) => {
                plan.conflicts.push(*conflict(kind, reason, FIELD_DROPPED));
                String::new()
            }
        };
        let first_name = name("invalid_first_name", &row.first_name);
        let last_name = name("invalid_last_name", &row.last_name);
        let phone = extras.phone_mapped.then(|| {
            let raw = extras.phones.get(&legacy_id).map_or("", |p| p.trim());
            if raw.is_empty() {
                return String::new();
            }
            match Phone::parse(raw) {
                Ok(phone) => phone.into_inner(),
                Err(reason) => {
                    plan.conflicts
                        .push(*conflict("invalid_phone", reason, FIELD_DROPPED));
                    String::new()
                }
            }
        });
        let email_verified = extras.all_emails_verified
            || extras
                .verified_emails
                .get(&legacy_id)
                .is_some_and(|verified| {
                    verified
                        .iter()
                        .any(|v| UserEmail::parse(v).is_ok_and(|v| v.key() == email.key()))
                });
        accepted.push(Candidate {
            legacy_id,
            email,
            username,
            first_name,
            last_name,
            phone,
            password_hash: Some(row.password.clone()).filter(|p| !p.is_empty()),
            is_active: row.is_active,
            is_staff: row.is_staff || row.is_superuser,
            email_verified,
            created_at: row.date_joined.unwrap_or_else(crate::db::now),
            last_login_at: row.last_login,
        });
    }
    // Written in Django's id order, so progress and batches follow the source.
    accepted.sort_by_key(|c| c.legacy_id.parse::<i64>().unwrap_or(i64::MAX));
    plan.conflicts
        .sort_by_key(|c| c.legacy_id.parse::<i64>().unwrap_or(i64::MAX));
    plan.candidates = accepted;
    plan
}

/// The hasher name of a Django password field.
pub fn hash_format(password: &str) -> String {
    if password.is_empty() {
        "empty".into()
    } else if password.starts_with('!') {
        "unusable".into()
    } else {
        password.split('$').next().unwrap_or_default().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, username: &str, email: &str, last_login: Option<&str>) -> DjangoUserRow {
        let at = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        DjangoUserRow {
            id,
            password: "pbkdf2_sha256$1000$salt$hash".into(),
            last_login: last_login.map(at),
            is_superuser: false,
            username: username.into(),
            first_name: "Ann".into(),
            last_name: "Lee".into(),
            email: email.into(),
            is_staff: false,
            is_active: true,
            date_joined: Some(at("2025-01-01 00:00")),
        }
    }

    #[test]
    fn duplicate_emails_keep_the_user_who_logged_in_last() {
        let rows = [
            row(1, "ann", "Ann@Example.com", Some("2025-02-01 00:00")),
            row(2, "ann2", "ann@example.com", Some("2026-02-01 00:00")),
            row(3, "bob", "", None),
            row(4, "carol", "not an email", None),
        ];
        let plan = plan(&rows, &Extras::default(), &Existing::default());
        let kept: Vec<_> = plan
            .candidates
            .iter()
            .map(|c| c.legacy_id.as_str())
            .collect();
        assert_eq!(kept, ["2"]);
        let kinds: Vec<_> = plan
            .conflicts
            .iter()
            .map(|c| (c.legacy_id.as_str(), c.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("1", "duplicate_email"),
                ("3", "no_email"),
                ("4", "invalid_email")
            ]
        );
        assert_eq!(plan.skipped, 3);
    }

    #[test]
    fn field_conflicts_drop_the_field_and_keep_the_user() {
        let mut bad_name = row(1, "ann", "ann@example.com", None);
        bad_name.first_name = "A\u{0}nn".into();
        let rows = [bad_name, row(2, "ANN", "other@example.com", None)];
        let existing = Existing::default();
        let plan = plan(&rows, &Extras::default(), &existing);
        assert_eq!(plan.candidates.len(), 2);
        assert_eq!(plan.candidates[0].first_name, "");
        let kinds: Vec<_> = plan.conflicts.iter().map(|c| c.kind).collect();
        assert!(kinds.contains(&"invalid_first_name"), "{kinds:?}");
        assert!(kinds.contains(&"duplicate_username"), "{kinds:?}");
        assert_eq!(
            plan.candidates
                .iter()
                .filter(|c| c.username.is_none())
                .count(),
            1
        );
    }

    #[test]
    fn an_email_of_an_authd_account_is_not_taken_over() {
        let rows = [row(7, "ann", "ann@example.com", None)];
        let mut existing = Existing::default();
        existing.emails.insert("ann@example.com".into(), None);
        let plan = plan(&rows, &Extras::default(), &existing);
        assert!(plan.candidates.is_empty());
        assert_eq!(plan.conflicts[0].kind, "email_taken");
        // The same user imported before is updated, not a conflict.
        existing
            .emails
            .insert("ann@example.com".into(), Some("7".into()));
        let plan = super::plan(&rows, &Extras::default(), &existing);
        assert_eq!(plan.candidates.len(), 1);
        assert!(plan.conflicts.is_empty());
    }
}
