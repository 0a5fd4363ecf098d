//! `authd users`: the admin API's user operations, straight on the database (no server
//! needed), with a table or `--json` (the API's admin user body). Each change writes its audit
//! event with the actor `cli`.

use clap::{ArgAction, Subcommand};
use diesel::Connection as _;

use super::CliResult;
use crate::auth::admin::{self, find_user, UserEdit};
use crate::auth::audit::{Actor, Origin};
use crate::config::Settings;
use crate::db::users::User;
use crate::db::users_admin::UserFilter;
use crate::db::DbConnection;
use crate::domain::UserEmail;
use crate::errors::ApiError;
use crate::routes::responses::AdminUserBody;

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Users, newest first.
    List {
        /// A substring of the email, username or "first last" (case-insensitive).
        #[arg(long)]
        query: Option<String>,
        #[arg(long)]
        active: Option<bool>,
        #[arg(long)]
        staff: Option<bool>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// One user, by id or email.
    Show {
        user: String,
        #[arg(long)]
        json: bool,
    },
    /// A new user; `authd create-user` with the same options.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        username: Option<String>,
        #[arg(long)]
        staff: bool,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a user, by id or email.
    Update {
        user: String,
        #[arg(long)]
        email: Option<String>,
        /// An empty value removes the username.
        #[arg(long)]
        username: Option<String>,
        #[arg(long)]
        first_name: Option<String>,
        #[arg(long)]
        last_name: Option<String>,
        #[arg(long, action = ArgAction::Set)]
        staff: Option<bool>,
        #[arg(long, action = ArgAction::Set)]
        email_verified: Option<bool>,
        #[arg(long)]
        json: bool,
    },
    /// Deactivate a user: every session ends, and login is refused.
    Deactivate { user: String },
    /// Let a deactivated user sign in again.
    Activate { user: String },
    /// Delete a user and everything that points at them (GDPR erasure). Needs --yes.
    Delete {
        user: String,
        /// Confirm: the deletion cannot be undone.
        #[arg(long)]
        yes: bool,
    },
    /// End every session of a user.
    Logout { user: String },
}

pub(crate) fn cli_origin() -> Origin {
    Origin {
        ip: String::new(),
        user_agent: "authd cli".into(),
    }
}

fn message(error: ApiError) -> String {
    let details = error.body().details;
    if details.as_object().is_some_and(|d| !d.is_empty()) {
        format!("{} {details}", error.message)
    } else {
        error.message
    }
}

/// A user by id, or by email when the argument has an `@`.
fn resolve(conn: &mut DbConnection, user: &str) -> Result<User, String> {
    if user.contains('@') {
        let email = UserEmail::parse(user)?;
        User::find_by_email_key(conn, &email.key())
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no user has the email {user}"))
    } else {
        find_user(conn, user).map_err(|_| format!("no user has the id {user}"))
    }
}

fn print_user(user: User, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string(&AdminUserBody::from(user)).unwrap_or_default()
        );
        return;
    }
    println!("id:             {}", user.id);
    println!(
        "email:          {}{}",
        user.email,
        if user.email_verified {
            " (verified)"
        } else {
            ""
        }
    );
    println!(
        "username:       {}",
        user.username.as_deref().unwrap_or("-")
    );
    println!("name:           {} {}", user.first_name, user.last_name);
    println!("active:         {}", user.is_active);
    println!("staff:          {}", user.is_staff);
    println!(
        "password:       {}",
        if user.password_hash.is_some() {
            "set"
        } else {
            "none"
        }
    );
    println!("created:        {} UTC", user.created_at);
}

pub fn run(command: UsersCommand) -> CliResult {
    let settings = Settings::load().map_err(|e| e.to_string())?;
    if let UsersCommand::Create {
        email,
        username,
        staff,
        password_stdin,
    } = command
    {
        return super::create_user(&email, username.as_deref(), staff, password_stdin);
    }
    let mut conn = super::open_connection(&settings)?;
    if settings.database.run_migrations {
        super::apply_migrations(&mut conn)?;
    }
    match command {
        UsersCommand::List {
            query,
            active,
            staff,
            limit,
            json,
        } => {
            let filter = UserFilter {
                text: query
                    .map(|q| q.trim().to_lowercase())
                    .filter(|q| !q.is_empty()),
                is_active: active,
                is_staff: staff,
                created_after: None,
            };
            let users = User::page(&mut conn, &filter, None, limit.clamp(1, 10_000))
                .map_err(|e| e.to_string())?;
            if json {
                for user in users {
                    println!(
                        "{}",
                        serde_json::to_string(&AdminUserBody::from(user)).unwrap_or_default()
                    );
                }
                return Ok(());
            }
            println!(
                "{:<36}  {:<40}  {:<6}  {:<5}  CREATED (UTC)",
                "ID", "EMAIL", "ACTIVE", "STAFF"
            );
            for user in users {
                println!(
                    "{:<36}  {:<40}  {:<6}  {:<5}  {}",
                    user.id,
                    user.email,
                    if user.is_active { "yes" } else { "no" },
                    if user.is_staff { "yes" } else { "no" },
                    user.created_at.format("%Y-%m-%d %H:%M:%S")
                );
            }
            Ok(())
        }
        UsersCommand::Show { user, json } => {
            print_user(resolve(&mut conn, &user)?, json);
            Ok(())
        }
        UsersCommand::Update {
            user,
            email,
            username,
            first_name,
            last_name,
            staff,
            email_verified,
            json,
        } => {
            let edit = UserEdit {
                email,
                username: username.map(|u| Some(u).filter(|u| !u.is_empty())),
                first_name,
                last_name,
                email_verified,
                is_staff: staff,
                ..UserEdit::default()
            };
            let updated = edit_user(&mut conn, &user, edit)?;
            print_user(updated, json);
            Ok(())
        }
        UsersCommand::Deactivate { user } => set_active(&mut conn, &user, false),
        UsersCommand::Activate { user } => set_active(&mut conn, &user, true),
        UsersCommand::Delete { user, yes } => {
            if !yes {
                return Err("deleting a user cannot be undone; add --yes to confirm".into());
            }
            let target = resolve(&mut conn, &user)?;
            conn.transaction(|conn| {
                admin::delete_user(conn, &target.id, Actor::Cli, &cli_origin())
            })
            .map_err(message)?;
            println!(
                "deleted user {} and everything that pointed at them",
                target.id
            );
            Ok(())
        }
        UsersCommand::Logout { user } => {
            let target = resolve(&mut conn, &user)?;
            let ended = conn
                .transaction(|conn| admin::logout_user(conn, &target.id, Actor::Cli, &cli_origin()))
                .map_err(message)?;
            println!("ended {ended} session(s) of user {}", target.id);
            Ok(())
        }
        UsersCommand::Create { .. } => unreachable!("handled above"),
    }
}

fn set_active(conn: &mut DbConnection, user: &str, active: bool) -> CliResult {
    let edit = UserEdit {
        is_active: Some(active),
        ..UserEdit::default()
    };
    let user = edit_user(conn, user, edit)?;
    let state = if active {
        "activated"
    } else {
        "deactivated; every session ended"
    };
    println!("user {} {state}", user.id);
    Ok(())
}

fn edit_user(conn: &mut DbConnection, user: &str, edit: UserEdit) -> Result<User, String> {
    let target = resolve(conn, user)?;
    let (changes, fields) = edit.parse().map_err(message)?;
    conn.transaction(|conn| {
        admin::update_user(
            conn,
            &target.id,
            &changes,
            fields,
            Actor::Cli,
            &cli_origin(),
        )
    })
    .map_err(message)
}
