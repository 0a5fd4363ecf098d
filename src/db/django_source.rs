//! Reading a Django project's database (`authd import-django --from`): `auth_user`, an optional
//! profile table, allauth's verified addresses and simplejwt's blacklist. The database is only
//! read: SQLite is opened read-only, PostgreSQL in read-only transactions.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{PgConnection, SqliteConnection};

use super::DbTarget;

/// One `auth_user` row, every column as Django stored it (times in UTC).
#[derive(Debug, Clone)]
pub struct DjangoUserRow {
    pub id: i64,
    pub password: String,
    pub last_login: Option<NaiveDateTime>,
    pub is_superuser: bool,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub is_staff: bool,
    pub is_active: bool,
    pub date_joined: Option<NaiveDateTime>,
}

/// A refresh token simplejwt had blacklisted.
#[derive(Debug, Clone)]
pub struct DjangoBlacklistedToken {
    pub jti: String,
    pub user_id: String,
    pub expires_at: Option<NaiveDateTime>,
}

/// Where a profile field lives: `table.column`, joined on `table.user_column = auth_user.id`.
#[derive(Debug, Clone)]
pub struct ProfileColumn {
    pub table: String,
    pub user_column: String,
    pub column: String,
}

#[derive(QueryableByName)]
struct RawUser {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    password: String,
    #[diesel(sql_type = Nullable<Text>)]
    last_login: Option<String>,
    #[diesel(sql_type = Text)]
    is_superuser: String,
    #[diesel(sql_type = Text)]
    username: String,
    #[diesel(sql_type = Text)]
    first_name: String,
    #[diesel(sql_type = Text)]
    last_name: String,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    is_staff: String,
    #[diesel(sql_type = Text)]
    is_active: String,
    #[diesel(sql_type = Nullable<Text>)]
    date_joined: Option<String>,
}

#[derive(QueryableByName)]
struct Pair {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = Nullable<Text>)]
    value: Option<String>,
}

#[derive(QueryableByName)]
struct RawToken {
    #[diesel(sql_type = Text)]
    jti: String,
    #[diesel(sql_type = Text)]
    user_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    expires_at: Option<String>,
}

pub enum DjangoSource {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

impl DjangoSource {
    /// Opens the Django database named by `url` (`postgres://…`, `sqlite:///path` or a path).
    pub fn open(url: &str) -> Result<Self, String> {
        match DbTarget::parse(url)? {
            DbTarget::Postgres(url) => {
                use diesel::connection::SimpleConnection as _;
                let mut conn = PgConnection::establish(&url).map_err(|e| e.to_string())?;
                conn.batch_execute(
                    "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY; SET TIME ZONE 'UTC'",
                )
                .map_err(|e| e.to_string())?;
                Ok(Self::Postgres(conn))
            }
            DbTarget::Sqlite(path) => {
                if !path.is_file() {
                    return Err(format!("no SQLite database at {}", path.display()));
                }
                // `sqlite:////abs/path` (Django's spelling) leaves `//abs/path`; a file URI
                // percent-encodes what SQLite would read as its query or fragment.
                let path = std::fs::canonicalize(&path).map_err(|e| e.to_string())?;
                let uri = url::Url::from_file_path(&path)
                    .map_err(|()| format!("{} is not an absolute path", path.display()))?;
                let uri = format!("{uri}?mode=ro");
                SqliteConnection::establish(&uri)
                    .map(Self::Sqlite)
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// Up to `limit` users with an id above `after`, by id.
    pub fn users_after(&mut self, after: i64, limit: i64) -> QueryResult<Vec<DjangoUserRow>> {
        let sql = match self {
            Self::Postgres(_) => format!(
                "SELECT id::bigint AS id, password, {} AS last_login, is_superuser::text AS is_superuser, \
                 username, first_name, last_name, email, is_staff::text AS is_staff, \
                 is_active::text AS is_active, {} AS date_joined \
                 FROM auth_user WHERE id > {after} ORDER BY id LIMIT {limit}",
                pg_time("last_login"),
                pg_time("date_joined")
            ),
            Self::Sqlite(_) => format!(
                "SELECT CAST(id AS INTEGER) AS id, password, CAST(last_login AS TEXT) AS last_login, \
                 CAST(is_superuser AS TEXT) AS is_superuser, username, first_name, last_name, email, \
                 CAST(is_staff AS TEXT) AS is_staff, CAST(is_active AS TEXT) AS is_active, \
                 CAST(date_joined AS TEXT) AS date_joined \
                 FROM auth_user WHERE id > {after} ORDER BY id LIMIT {limit}"
            ),
        };
        let rows: Vec<RawUser> = self.load(&sql)?;
        Ok(rows
            .into_iter()
            .map(|raw| DjangoUserRow {
                id: raw.id,
                password: raw.password,
                last_login: raw.last_login.as_deref().and_then(parse_time),
                is_superuser: is_true(&raw.is_superuser),
                username: raw.username,
                first_name: raw.first_name,
                last_name: raw.last_name,
                email: raw.email,
                is_staff: is_true(&raw.is_staff),
                is_active: is_true(&raw.is_active),
                date_joined: raw.date_joined.as_deref().and_then(parse_time),
            })
            .collect())
    }

    /// The profile column's value by Django user id.
    pub fn profile_values(&mut self, column: &ProfileColumn) -> QueryResult<Vec<(String, String)>> {
        let sql = format!(
            "SELECT CAST({user} AS TEXT) AS key, CAST({value} AS TEXT) AS value FROM {table}",
            user = quoted(&column.user_column),
            value = quoted(&column.column),
            table = quoted(&column.table),
        );
        Ok(present(self.load(&sql)?))
    }

    /// The addresses django-allauth verified (`account_emailaddress`), by Django user id; none
    /// when allauth is not installed.
    pub fn verified_emails(&mut self) -> QueryResult<Vec<(String, String)>> {
        if !self.has_table("account_emailaddress")? {
            return Ok(Vec::new());
        }
        let truth = match self {
            Self::Postgres(_) => "verified",
            Self::Sqlite(_) => "verified = 1",
        };
        let sql = format!(
            "SELECT CAST(user_id AS TEXT) AS key, email AS value FROM account_emailaddress WHERE {truth}"
        );
        Ok(present(self.load(&sql)?))
    }

    /// The refresh tokens simplejwt's token_blacklist app blacklisted; none without the app.
    pub fn blacklisted_tokens(&mut self) -> QueryResult<Vec<DjangoBlacklistedToken>> {
        if !self.has_table("token_blacklist_blacklistedtoken")? {
            return Ok(Vec::new());
        }
        let expires = match self {
            Self::Postgres(_) => pg_time("o.expires_at"),
            Self::Sqlite(_) => "CAST(o.expires_at AS TEXT)".to_owned(),
        };
        let sql = format!(
            "SELECT o.jti AS jti, CAST(o.user_id AS TEXT) AS user_id, {expires} AS expires_at \
             FROM token_blacklist_outstandingtoken o \
             JOIN token_blacklist_blacklistedtoken b ON b.token_id = o.id \
             WHERE o.user_id IS NOT NULL"
        );
        let rows: Vec<RawToken> = self.load(&sql)?;
        Ok(rows
            .into_iter()
            .map(|raw| DjangoBlacklistedToken {
                jti: raw.jti,
                user_id: raw.user_id,
                expires_at: raw.expires_at.as_deref().and_then(parse_time),
            })
            .collect())
    }

    fn has_table(&mut self, name: &str) -> QueryResult<bool> {
        let sql = match self {
            Self::Postgres(_) => format!(
                "SELECT table_name AS key, NULL AS value FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = '{name}'"
            ),
            Self::Sqlite(_) => format!(
                "SELECT name AS key, NULL AS value FROM sqlite_master \
                 WHERE type = 'table' AND name = '{name}'"
            ),
        };
        Ok(!self.load::<Pair>(&sql)?.is_empty())
    }

    fn load<T>(&mut self, sql: &str) -> QueryResult<Vec<T>>
    where
        T: QueryableByName<diesel::pg::Pg> + QueryableByName<diesel::sqlite::Sqlite> + 'static,
    {
        match self {
            Self::Postgres(conn) => diesel::sql_query(sql).load(conn),
            Self::Sqlite(conn) => diesel::sql_query(sql).load(conn),
        }
    }
}

/// The pairs whose value is not NULL.
fn present(rows: Vec<Pair>) -> Vec<(String, String)> {
    rows.into_iter()
        .filter_map(|p| Some((p.key, p.value?)))
        .collect()
}

/// A timestamp column as UTC text (the session's time zone is UTC).
fn pg_time(column: &str) -> String {
    format!("to_char({column}, 'YYYY-MM-DD HH24:MI:SS.US')")
}

/// An identifier the caller checked (`is_identifier`), quoted for both backends.
fn quoted(name: &str) -> String {
    format!("\"{name}\"")
}

/// Table and column names given on the command line: letters, digits and `_` only, so that
/// they can be put into SQL.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 63
}

fn is_true(value: &str) -> bool {
    matches!(value.trim(), "1" | "t" | "true" | "True" | "TRUE")
}

/// Django's SQLite text (`2026-12-02 10:00:00.123456`, sometimes with `+00:00`) or the
/// PostgreSQL text above.
fn parse_time(value: &str) -> Option<NaiveDateTime> {
    let value = value.trim();
    let value = value
        .strip_suffix("+00:00")
        .or_else(|| value.strip_suffix('Z'))
        .unwrap_or(value);
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn django_times_parse() {
        let at = parse_time("2026-12-02 10:00:00.123456").unwrap();
        assert_eq!(at.to_string(), "2026-12-02 10:00:00.123456");
        assert_eq!(
            parse_time("2026-12-02T10:00:00+00:00").unwrap().to_string(),
            "2026-12-02 10:00:00"
        );
        assert!(parse_time("yesterday").is_none());
    }

    #[test]
    fn only_plain_identifiers_reach_sql() {
        assert!(is_identifier("api_profile"));
        assert!(!is_identifier("api_profile; DROP TABLE x"));
        assert!(!is_identifier("1table"));
        assert!(!is_identifier("a\"b"));
        assert!(!is_identifier(""));
    }
}
