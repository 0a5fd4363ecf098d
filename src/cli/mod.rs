//! The command line: `authd [serve]`, `migrate`, `create-user`, `flush-expired`, `healthcheck`,
//! `outbox`, `keys generate|list`, `services new-token`, `import-django`.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod audit;
mod import_django;
mod keys;
mod logging;
mod outbox;
mod services;
mod users;

use crate::auth::audit::{Actor, Event, Record};
use diesel::Connection as _;
use keys::KeysCommand;
use outbox::OutboxCommand;
use secrecy::{ExposeSecret, SecretString};
use services::ServicesCommand;
use users::UsersCommand;

use crate::auth::password::PasswordHasher;
use crate::auth::sessions;
use crate::config::Settings;
use crate::db::users::{Taken, User};
use crate::db::{self, DbConnection, DbTarget};
use crate::domain::{NewPassword, UserEmail, Username};
use crate::startup::Application;

#[derive(Parser)]
#[command(
    name = "authd",
    version,
    about = "Stateless JWT bearer-token authentication service"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (the default when no command is given).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create a user account.
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long)]
        username: Option<String>,
        /// Make the user staff (`isStaff` in tokens and the user body).
        #[arg(long)]
        staff: bool,
        /// Read the password from the first line of standard input. Without it the user has no
        /// usable password (for accounts that will sign in through an identity provider).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Delete blacklist rows and sessions whose tokens have expired.
    FlushExpired,
    /// Ask a running authd whether it is ready: exit 0 when it answers 2xx, 1 otherwise.
    /// For container health checks (the image has no curl).
    Healthcheck {
        /// The URL to ask. Default: http://127.0.0.1:PORT/readyz, PORT from the configuration.
        #[arg(long)]
        url: Option<String>,
    },
    /// Messages not delivered yet: list them (pending and failed), or try one again now.
    Outbox {
        #[command(subcommand)]
        command: Option<OutboxCommand>,
    },
    /// Find, change, deactivate, delete users, or end their sessions (no server needed).
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// The newest audit events (security events and admin actions).
    Audit {
        /// Only events about this user id.
        #[arg(long)]
        user: Option<String>,
        /// Only events of this type (e.g. login.failed).
        #[arg(long = "type")]
        event_type: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// One JSON object per event.
        #[arg(long)]
        json: bool,
    },
    /// Bring a Django project's users (auth_user) and simplejwt's blacklist into authd.
    /// Idempotent: users are matched on their Django id.
    ImportDjango(import_django::ImportDjangoArgs),
    /// Manage signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Credentials of internal services (for the revocation feed and introspection).
    Services {
        #[command(subcommand)]
        command: ServicesCommand,
    },
}

/// glibc keeps freed memory in per-thread arenas, and after the first free of a large block
/// it raises its mmap threshold, so every 19 MiB argon2 block from then on stays resident in
/// the arena of whichever blocking thread hashed (measured: 2 GB after a login burst). A fixed
/// threshold sends large blocks straight back to the kernel; fewer arenas bound the rest.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Every connection is a file. The usual soft limit (1,024) is reached by a thousand idle or
/// slow connections, after which every new one is refused; the hard limit is usually far
/// higher and a server may take all of it (as nginx's worker_rlimit_nofile does).
fn raise_open_file_limit() {
    #[cfg(target_os = "linux")]
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

pub fn run() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    let is_server = matches!(cli.command, None | Some(Command::Serve));
    // Read here for the log's format alone; each command loads (and reports on) the settings
    // itself, once the log is there to take what loading them says.
    let format = Settings::load_unchecked()
        .map(|settings| settings.log.format)
        .unwrap_or_default();
    logging::init(if is_server { "info" } else { "warn" }, format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(),
        Command::Migrate => migrate(),
        Command::CreateUser {
            email,
            username,
            staff,
            password_stdin,
        } => create_user(&email, username.as_deref(), staff, password_stdin),
        Command::FlushExpired => flush_expired(),
        Command::Healthcheck { url } => healthcheck(url),
        Command::Outbox { command } => outbox::run(command.unwrap_or(OutboxCommand::List)),
        Command::Services { command } => services::run(command),
        Command::Users { command } => users::run(command),
        Command::Audit {
            user,
            event_type,
            limit,
            json,
        } => audit::run(user, event_type, limit, json),
        Command::ImportDjango(args) => import_django::run(args),
        Command::Keys {
            command:
                KeysCommand::Generate {
                    algorithm,
                    out,
                    if_missing,
                },
        } => keys::generate(&algorithm, out, if_missing),
        Command::Keys {
            command: KeysCommand::List { json },
        } => keys::list(json),
        Command::Keys {
            command: KeysCommand::Rotate { json },
        } => keys::rotate(json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("authd: error: {message}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) type CliResult = Result<(), String>;

fn serve() -> CliResult {
    raise_open_file_limit();
    let settings = Settings::load().map_err(|e| e.to_string())?;
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings).map_err(|e| e.to_string())?;
        app.run_until_stopped().await.map_err(|e| e.to_string())
    })
}

/// One connection, not a pool: a pool's background threads could still be opening
/// connections while the process exits, which crashes inside libpq's exit handlers.
pub(crate) fn open_connection(settings: &Settings) -> Result<DbConnection, String> {
    let target = DbTarget::parse(settings.database.url.expose_secret())?;
    if let Some(dir) = target.sqlite_dir().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    target.connect().map_err(|e| {
        format!(
            "cannot connect to the {} database: {e}",
            target.backend_name()
        )
    })
}

pub(crate) fn apply_migrations(conn: &mut DbConnection) -> Result<Vec<String>, String> {
    db::run_migrations(conn).map_err(|e| e.to_string())
}

fn migrate() -> CliResult {
    let settings = Settings::load().map_err(|e| e.to_string())?;
    let mut conn = open_connection(&settings)?;
    let applied = apply_migrations(&mut conn)?;
    println!("applied {} migration(s)", applied.len());
    for name in applied {
        println!("  {name}");
    }
    Ok(())
}

pub(crate) fn create_user(
    email: &str,
    username: Option<&str>,
    staff: bool,
    password_stdin: bool,
) -> CliResult {
    let settings = Settings::load().map_err(|e| e.to_string())?;
    let email = UserEmail::parse(email).map_err(|e| format!("--email: {e}"))?;
    let username = username
        .map(Username::parse)
        .transpose()
        .map_err(|e| format!("--username: {e}"))?;
    let password_hash = if password_stdin {
        let password = read_password_line()?;
        let personal = [
            email.as_str(),
            username.as_ref().map_or("", Username::as_str),
        ];
        let password = NewPassword::parse(password.expose_secret(), &personal)
            .map_err(|problems| format!("password: {}", problems.join(" ")))?;
        let hasher = PasswordHasher::new(&settings.password)?;
        Some(hasher.hash_blocking(&password.into_secret())?)
    } else {
        None
    };
    let mut conn = open_connection(&settings)?;
    if settings.database.run_migrations {
        apply_migrations(&mut conn)?;
    }
    let username_key = username.as_ref().map(Username::key);
    match User::find_taken(&mut conn, Some(&email.key()), username_key.as_deref())
        .map_err(|e| e.to_string())?
    {
        Some(Taken::Email) => {
            return Err(format!(
                "a user with email {} already exists",
                email.as_str()
            ))
        }
        Some(Taken::Username) => return Err("that username is taken".into()),
        None => {}
    }
    let user = User {
        username: username.map(|u| u.as_str().to_owned()),
        username_key,
        password_hash,
        is_staff: staff,
        ..User::new_account(email.as_str(), email.key(), db::now())
    };
    conn.transaction(|conn| {
        user.insert(conn)?;
        Record::new(Event::AdminUserCreated, Some(&user.id))
            .by(Actor::Cli)
            .detail("isStaff", staff)
            .write(conn, &users::cli_origin())
    })
    .map_err(|e: diesel::result::Error| e.to_string())?;
    println!(
        "created user {} <{}>{}",
        user.id,
        user.email,
        if staff { " (staff)" } else { "" }
    );
    Ok(())
}

fn read_password_line() -> Result<SecretString, String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("password (the input is shown; pipe it in to avoid that):");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        return Err("--password-stdin was given but standard input had no password".into());
    }
    Ok(SecretString::from(password))
}

fn flush_expired() -> CliResult {
    let settings = Settings::load().map_err(|e| e.to_string())?;
    let mut conn = open_connection(&settings)?;
    let (tokens, sessions) = sessions::flush_expired(&mut conn).map_err(|e| e.message)?;
    let lockout = crate::auth::lockout::LockoutPolicy::from_settings(&settings.lockout)
        .flush(&mut conn, db::now())
        .map_err(|e| e.message)?;
    println!("deleted {tokens} expired blacklist row(s) and {sessions} expired session(s)");
    println!("deleted {lockout} stale lockout row(s)");
    if settings.audit.retention_days > 0 {
        let days = i64::try_from(settings.audit.retention_days).unwrap_or(i64::MAX / 86_400);
        let cutoff = db::now() - chrono::Duration::days(days.min(1_000_000));
        let audit = crate::db::audit::AuditEvent::delete_older_than(&mut conn, cutoff)
            .map_err(|e| e.to_string())?;
        println!("deleted {audit} audit event(s) older than {days} days");
    }
    Ok(())
}

fn healthcheck(url: Option<String>) -> CliResult {
    let url = match url {
        Some(url) => url,
        None => {
            let settings = Settings::load_unchecked().map_err(|e| e.to_string())?;
            crate::healthcheck::default_url(&settings.server)
        }
    };
    let summary = actix_web::rt::System::new().block_on(crate::healthcheck::probe(&url))?;
    println!("{summary}");
    Ok(())
}
