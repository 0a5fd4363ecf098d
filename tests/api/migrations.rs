//! The two migration folders must describe one schema: same names, same tables and columns,
//! same indexes and unique constraints; and every foreign key has an index.

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

/// A fresh database with every migration applied (kept alive by the first value).
fn migrated(backend: Backend) -> Option<(TestDatabase, authd::db::DbConnection)> {
    let db = TestDatabase::create(backend)?;
    let mut conn = authd::db::DbTarget::parse(&db.url)
        .unwrap()
        .connect()
        .unwrap();
    authd::db::run_migrations(&mut conn).unwrap();
    Some((db, conn))
}

fn columns(backend: Backend) -> Option<BTreeSet<(String, String, bool)>> {
    let (_db, mut conn) = migrated(backend)?;
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

#[derive(QueryableByName, Debug)]
struct Index {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    columns: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    is_unique: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    is_primary: bool,
}

#[derive(QueryableByName)]
struct ForeignKey {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_name: String,
}

/// (table, columns in index order, unique, primary key) of every index, including those
/// behind PRIMARY KEY and UNIQUE constraints. PostgreSQL's trigram (GIN) search indexes have no
/// SQLite counterpart and are left out.
type IndexSet = BTreeSet<(String, String, bool, bool)>;

fn indexes_and_foreign_keys(backend: Backend) -> Option<(IndexSet, BTreeSet<(String, String)>)> {
    let (_db, mut conn) = migrated(backend)?;
    let (indexes, foreign_keys): (Vec<Index>, Vec<ForeignKey>) = match &mut conn {
        authd::db::DbConnection::Postgres(pg) => (
            sql_query(
                "SELECT t.relname::text AS table_name, \
                 string_agg(a.attname::text, ',' ORDER BY k.ord) AS columns, \
                 i.indisunique AS is_unique, i.indisprimary AS is_primary \
                 FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid \
                 JOIN pg_namespace n ON n.oid = t.relnamespace \
                 JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam \
                 CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) \
                 JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
                 WHERE n.nspname = 'public' AND t.relname NOT LIKE '\\_\\_diesel%' \
                 AND am.amname = 'btree' \
                 GROUP BY t.relname, i.indexrelid, i.indisunique, i.indisprimary",
            )
            .load(pg)
            .unwrap(),
            sql_query(
                "SELECT k.table_name::text AS table_name, k.column_name::text AS column_name \
                 FROM information_schema.table_constraints c \
                 JOIN information_schema.key_column_usage k \
                 ON k.constraint_name = c.constraint_name AND k.table_schema = c.table_schema \
                 WHERE c.constraint_type = 'FOREIGN KEY' AND c.table_schema = 'public'",
            )
            .load(pg)
            .unwrap(),
        ),
        authd::db::DbConnection::Sqlite(sqlite) => (
            sql_query(
                "SELECT m.name AS table_name, \
                 (SELECT group_concat(name, ',') FROM \
                   (SELECT ii.name FROM pragma_index_info(il.name) ii ORDER BY ii.seqno)) AS columns, \
                 il.\"unique\" AS is_unique, il.origin = 'pk' AS is_primary \
                 FROM sqlite_master m, pragma_index_list(m.name) il \
                 WHERE m.type = 'table' AND m.name NOT LIKE '\\_\\_diesel%' ESCAPE '\\'",
            )
            .load(sqlite)
            .unwrap(),
            sql_query(
                "SELECT m.name AS table_name, f.\"from\" AS column_name \
                 FROM sqlite_master m, pragma_foreign_key_list(m.name) f WHERE m.type = 'table'",
            )
            .load(sqlite)
            .unwrap(),
        ),
    };
    Some((
        indexes
            .into_iter()
            .map(|i| (i.table_name, i.columns, i.is_unique, i.is_primary))
            .collect(),
        foreign_keys
            .into_iter()
            .map(|f| (f.table_name, f.column_name))
            .collect(),
    ))
}

#[test]
fn both_schemas_have_the_same_indexes_and_every_foreign_key_is_indexed() {
    let (sqlite, foreign_keys) = indexes_and_foreign_keys(Backend::Sqlite).unwrap();
    assert!(
        sqlite.contains(&("identities".into(), "provider,subject".into(), true, false)),
        "{sqlite:#?}"
    );
    assert!(
        !foreign_keys.is_empty(),
        "no foreign keys found: the query is wrong"
    );
    // ON DELETE CASCADE and joins look rows up by the referencing column: without an index
    // whose first column it is, each deleted parent scans the whole child table.
    for (table, column) in &foreign_keys {
        assert!(
            sqlite.iter().any(|(t, columns, _, _)| t == table
                && columns.split(',').next() == Some(column.as_str())),
            "{table}.{column} is a foreign key without an index"
        );
    }
    let Some((postgres, postgres_foreign_keys)) = indexes_and_foreign_keys(Backend::Postgres)
    else {
        return;
    };
    assert_eq!(sqlite, postgres);
    assert_eq!(foreign_keys, postgres_foreign_keys);
}
