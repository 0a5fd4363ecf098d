//! The two migration folders must describe one schema: same names, same tables and columns.

use std::collections::BTreeSet;

use diesel::{sql_query, QueryableByName, RunQueryDsl};

use crate::helpers::{Backend, TestDatabase};

fn migration_names(backend: &str) -> BTreeSet<String> {
    let dir = format!("{}/migrations/{backend}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap())
        .inspect(|entry| {
            for file in ["up.sql", "down.sql"] {
                assert!(
                    entry.path().join(file).exists(),
                    "{} has no {file}",
                    entry.path().display()
                );
            }
        })
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn both_backends_have_the_same_migrations() {
    let postgres = migration_names("postgres");
    assert!(!postgres.is_empty());
    assert_eq!(postgres, migration_names("sqlite"));
}

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_name: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    nullable: bool,
}

fn columns(backend: Backend) -> Option<BTreeSet<(String, String, bool)>> {
    let db = TestDatabase::create(backend)?;
    let mut conn = authd::db::DbTarget::parse(&db.url)
        .unwrap()
        .connect()
        .unwrap();
    authd::db::run_migrations(&mut conn).unwrap();
    let rows: Vec<Column> = match &mut conn {
        authd::db::DbConnection::Postgres(pg) => sql_query(
            "SELECT table_name::text AS table_name, column_name::text AS column_name, \
             is_nullable = 'YES' AS nullable FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name NOT LIKE '\\_\\_diesel%'",
        )
        .load(pg)
        .unwrap(),
        authd::db::DbConnection::Sqlite(sqlite) => sql_query(
            "SELECT m.name AS table_name, c.name AS column_name, \
             (c.\"notnull\" = 0 AND c.pk = 0) AS nullable \
             FROM sqlite_master m, pragma_table_info(m.name) c \
             WHERE m.type = 'table' AND m.name NOT LIKE '\\_\\_diesel%' ESCAPE '\\'",
        )
        .load(sqlite)
        .unwrap(),
    };
    Some(
        rows.into_iter()
            .map(|c| (c.table_name, c.column_name, c.nullable))
            .collect(),
    )
}

#[test]
fn both_schemas_have_the_same_tables_and_columns() {
    let sqlite = columns(Backend::Sqlite).unwrap();
    assert!(sqlite
        .iter()
        .any(|(table, column, _)| table == "blacklisted_tokens" && column == "jti"));
    let Some(postgres) = columns(Backend::Postgres) else {
        return;
    };
    assert_eq!(sqlite, postgres);
}
