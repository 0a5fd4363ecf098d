//! `authd import-django --from <Django database URL>`: Django's users into authd (README,
//! "Coming from Django").

use clap::Args;

use super::CliResult;
use crate::auth::django_import::{self, ImportError, ImportOptions, ImportReport};
use crate::config::Settings;
use crate::db::django_source::{is_identifier, DjangoSource, ProfileColumn};

#[derive(Args)]
pub struct ImportDjangoArgs {
    /// The Django database: postgres://user@host/db, sqlite:///path/db.sqlite3, or a path.
    /// Only read.
    #[arg(long = "from", value_name = "URL")]
    from: String,
    /// Plan the import and report conflicts; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Import despite conflicts: a user without a usable email is left out, a field that
    /// cannot be kept (a username taken under case folding, a malformed name or phone) is
    /// dropped. Without it, any conflict stops the import before anything is written.
    #[arg(long)]
    skip_conflicts: bool,
    /// Users per transaction.
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
    /// A profile table to take the phone number from, as TABLE.COLUMN (e.g.
    /// api_profile.phone), joined on --profile-user-column.
    #[arg(long, value_name = "TABLE.COLUMN")]
    phone_from: Option<String>,
    /// The profile table's column holding the auth_user id.
    #[arg(long, default_value = "user_id")]
    profile_user_column: String,
    /// Take every imported email as verified (Django does not verify addresses;
    /// django-allauth's verified addresses are taken without this).
    #[arg(long)]
    emails_verified: bool,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(args: ImportDjangoArgs) -> CliResult {
    let phone = args
        .phone_from
        .as_deref()
        .map(|spec| profile_column(spec, &args.profile_user_column))
        .transpose()?;
    let options = ImportOptions {
        dry_run: args.dry_run,
        skip_conflicts: args.skip_conflicts,
        batch_size: args.batch_size.clamp(1, 10_000),
        phone,
        emails_verified: args.emails_verified,
    };
    let mut source = DjangoSource::open(&args.from)
        .map_err(|e| format!("cannot open the Django database: {e}"))?;
    let settings = Settings::load().map_err(|e| e.to_string())?;
    let mut conn = super::open_connection(&settings)?;
    super::apply_migrations(&mut conn)?;
    let json = args.json;
    let result = django_import::run(
        &mut source,
        &mut conn,
        &options,
        &super::users::cli_origin(),
        |done, total| {
            if !json {
                eprintln!("import-django: {done}/{total} users written");
            }
        },
    );
    match result {
        Ok(report) => {
            print_report(&report, json);
            Ok(())
        }
        Err(ImportError::Conflicts(report)) => {
            print_report(&report, json);
            Err(ImportError::Conflicts(report).to_string())
        }
        Err(error) => Err(error.to_string()),
    }
}

fn profile_column(spec: &str, user_column: &str) -> Result<ProfileColumn, String> {
    let (table, column) = spec
        .split_once('.')
        .ok_or_else(|| format!("--phone-from {spec:?}: write TABLE.COLUMN"))?;
    for name in [table, column, user_column] {
        if !is_identifier(name) {
            return Err(format!(
                "{name:?} is not a plain table or column name (letters, digits, _)"
            ));
        }
    }
    Ok(ProfileColumn {
        table: table.to_owned(),
        user_column: user_column.to_owned(),
        column: column.to_owned(),
    })
}

fn print_report(report: &ImportReport, json: bool) {
    if json {
        println!("{}", serde_json::to_string(report).unwrap_or_default());
        return;
    }
    let mode = if report.dry_run {
        " (dry run: nothing written)"
    } else {
        ""
    };
    println!("Django users: {}{mode}", report.users);
    println!(
        "created {}, updated {}, unchanged {}, skipped {}",
        report.created, report.updated, report.unchanged, report.skipped
    );
    let formats: Vec<String> = report
        .hash_formats
        .iter()
        .map(|(format, count)| format!("{format} {count}"))
        .collect();
    println!("password formats: {}", formats.join(", "));
    if report.unverifiable_hashes > 0 {
        println!(
            "  {} users have a password format authd cannot verify: they need a password reset",
            report.unverifiable_hashes
        );
    }
    println!(
        "simplejwt blacklisted tokens recorded: {}",
        report.blacklisted_tokens
    );
    if !report.conflicts.is_empty() {
        println!("conflicts ({}):", report.conflicts.len());
        for c in &report.conflicts {
            println!(
                "  Django user {} ({:?}, {:?}): {}: {} [with --skip-conflicts: {}]",
                c.legacy_id, c.username, c.email, c.kind, c.detail, c.resolution
            );
        }
    }
}
