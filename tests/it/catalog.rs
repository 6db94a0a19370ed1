//! The schema our migrations create is the one Prisma creates, catalog entry for catalog entry.
//!
//! `../shared/prisma-reference/ddl/*.sql` is the SQL Prisma 6.19 generates from the reference
//! Prisma schemas. Each test applies it to one scratch database, lets the service create the
//! schema in another, reads both catalogs into sorted, human-readable lines and diffs them:
//! `-` lines exist only in Prisma's schema, `+` lines only in ours. The bookkeeping tables
//! (`__diesel_schema_migrations`, `_prisma_migrations`) are ignored.

use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::sql_types::Text;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, QueryableByName, RunQueryDsl, sql_query};
use tokio_postgres::{Client, NoTls, Row};

use crate::support::{Backend, Scratch, ready_db};

/// The Auth.js tables, spelled out here so that the test cannot shrink with the code under test.
const TABLES: [&str; 5] = ["users", "sessions", "accounts", "verification_tokens", "authenticators"];
/// Migration bookkeeping, not part of the schema.
const IGNORED: [&str; 2] = ["__diesel_schema_migrations", "_prisma_migrations"];

// ---------------------------------------------------------------------------------------------
// Files: the migrations and Prisma schemas are copies of the reference, byte for byte.
// ---------------------------------------------------------------------------------------------

fn project_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn reference_file(relative: &str) -> PathBuf {
    project_file("../shared/prisma-reference").join(relative)
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}). The Prisma reference lives in ../shared/prisma-reference next to the project \
             (ddl/postgresql.sql and ddl/sqlite.sql are the SQL Prisma 6.19 generates); it must be present for \
             the catalog tests",
            path.display()
        )
    })
}

fn read_text(path: &Path) -> String {
    String::from_utf8(read(path)).unwrap_or_else(|e| panic!("{} is not UTF-8: {e}", path.display()))
}

/// The reference DDL for a backend.
fn reference_ddl(file: &str) -> String {
    read_text(&reference_file(&format!("ddl/{file}")))
}

#[test]
fn migrations_and_prisma_schemas_are_the_reference_files() {
    let pairs = [
        ("migrations/postgres/00000000000000_init/up.sql", "ddl/postgresql.sql"),
        ("migrations/sqlite/00000000000000_init/up.sql", "ddl/sqlite.sql"),
        ("prisma/schema.prisma", "schema.postgresql.prisma"),
        ("prisma/schema.sqlite.prisma", "schema.sqlite.prisma"),
    ];
    let mut failures = Vec::new();
    for (ours, reference) in pairs {
        let (ours_path, reference_path) = (project_file(ours), reference_file(reference));
        let (mut ours_bytes, reference_bytes) = (read(&ours_path), read(&reference_path));
        if ours.starts_with("prisma/") {
            ours_bytes = without_session_indexes(&String::from_utf8_lossy(&ours_bytes)).into_bytes();
        }
        if ours_bytes != reference_bytes {
            failures.push(format!(
                "{ours} differs from prisma-reference/{reference}: {}",
                first_difference(&reference_bytes, &ours_bytes)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What Prisma 6.19 prints for `migrate diff --from-schema-datamodel <reference schema>
/// --to-schema-datamodel prisma/<schema> --script`, the same on both backends: the project's
/// schemas are the reference plus `@@index([userId])` and `@@index([expires])` on `Session`.
const PRISMA_SESSION_INDEXES: &str = "-- CreateIndex\nCREATE INDEX \"sessions_userId_idx\" ON \"sessions\"(\"userId\");\n\n\
                                      -- CreateIndex\nCREATE INDEX \"sessions_expires_idx\" ON \"sessions\"(\"expires\");\n\n";

/// The Prisma schema without the lines that add the session indexes (and their comment).
fn without_session_indexes(schema: &str) -> String {
    let added = [
        "  // Not in the Auth.js schema: listing a user's sessions, signing out everywhere and purging\n",
        "  // expired rows would otherwise scan the whole table.\n",
        "  @@index([userId])\n",
        "  @@index([expires])\n",
    ];
    let mut out = schema.to_owned();
    for line in added {
        assert!(out.contains(line), "the project's Prisma schema lacks {line:?}");
        out = out.replacen(line, "", 1);
    }
    out
}

/// Prisma's whole DDL for the project's schema: the reference DDL, then the index migration.
fn prisma_ddl(file: &str) -> String {
    format!("{}\n{PRISMA_SESSION_INDEXES}", reference_ddl(file))
}

#[test]
fn the_index_migrations_are_prismas_diff() {
    for backend in ["postgres", "sqlite"] {
        let path = project_file(&format!("migrations/{backend}/00000000000001_session_indexes/up.sql"));
        assert_eq!(read_text(&path), PRISMA_SESSION_INDEXES, "{}", path.display());
    }
}

/// Where two files part, for the failure message.
fn first_difference(reference: &[u8], ours: &[u8]) -> String {
    let (reference, ours) = (String::from_utf8_lossy(reference), String::from_utf8_lossy(ours));
    let (mut r, mut o) = (reference.split_inclusive('\n'), ours.split_inclusive('\n'));
    for line in 1.. {
        match (r.next(), o.next()) {
            (Some(a), Some(b)) if a == b => continue,
            (a, b) => {
                return format!(
                    "first difference at line {line}:\n  reference: {:?}\n  ours:      {:?}",
                    a.unwrap_or("<end of file>"),
                    b.unwrap_or("<end of file>")
                );
            }
        }
    }
    unreachable!("the files differ, so some line does")
}

// ---------------------------------------------------------------------------------------------
// Comparing catalogs.
// ---------------------------------------------------------------------------------------------

/// The lines only in `prisma` (`-`) or only in `ours` (`+`); `None` when the catalogs are equal.
/// Both inputs are sorted.
fn diff(prisma: &[String], ours: &[String]) -> Option<String> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < prisma.len() || j < ours.len() {
        match (prisma.get(i), ours.get(j)) {
            (Some(a), Some(b)) if a == b => (i, j) = (i + 1, j + 1),
            (Some(a), Some(b)) if a < b => {
                out.push(format!("- {a}"));
                i += 1;
            }
            (Some(a), None) => {
                out.push(format!("- {a}"));
                i += 1;
            }
            (_, Some(b)) => {
                out.push(format!("+ {b}"));
                j += 1;
            }
            (None, None) => unreachable!(),
        }
    }
    (!out.is_empty()).then(|| out.join("\n"))
}

fn assert_same(what: &str, prisma: &[String], ours: &[String]) {
    if let Some(diff) = diff(prisma, ours) {
        panic!(
            "{what}: the schema our migrations create differs from the one Prisma creates\n\
             (- only in Prisma's schema, + only in ours)\n{diff}\n\nPrisma's catalog:\n{}",
            prisma.join("\n")
        );
    }
}

/// Guards against a vacuous comparison (say, both sides read from an empty schema).
fn assert_complete(what: &str, catalog: &[String]) {
    for table in TABLES {
        let prefix = format!("{table}: ");
        let has = |kind: &str| catalog.iter().any(|l| l.starts_with(&format!("{prefix}{kind}")));
        let has_primary_key = catalog
            .iter()
            .any(|l| l.starts_with(&prefix) && (l.contains(": primary key ") || l.contains(" origin=pk ")));
        assert!(
            has("table") && has("column 01") && (has_primary_key || table == "verification_tokens"),
            "{what}: the catalog lacks table {table}:\n{}",
            catalog.join("\n")
        );
    }
    let foreign_keys = catalog.iter().filter(|l| l.contains(": foreign key ")).count();
    assert_eq!(foreign_keys, 3, "{what}: expected the three foreign keys to users:\n{}", catalog.join("\n"));
}

fn sorted(mut lines: Vec<String>) -> Vec<String> {
    lines.sort();
    lines
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL catalog.
// ---------------------------------------------------------------------------------------------

async fn pg_connect(url: &str) -> Client {
    let (client, connection) =
        tokio_postgres::connect(url, NoTls).await.unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

fn quote_list(names: &[String]) -> String {
    names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
}

fn fk_action(code: &str) -> &'static str {
    match code {
        "a" => "NO ACTION",
        "r" => "RESTRICT",
        "c" => "CASCADE",
        "n" => "SET NULL",
        "d" => "SET DEFAULT",
        _ => "?",
    }
}

fn fk_match(code: &str) -> &'static str {
    match code {
        "f" => "FULL",
        "p" => "PARTIAL",
        "s" => "SIMPLE",
        _ => "?",
    }
}

const PG_RELATIONS: &str = "
SELECT c.relname::text AS name, c.relkind::text AS kind, c.relpersistence::text AS persistence,
       c.relrowsecurity AS rls
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname::text = $1::text AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND NOT c.relname::text = ANY($2::text[])";

const PG_TYPES: &str = "
SELECT t.typname::text AS name, t.typtype::text AS kind
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname::text = $1::text AND t.typtype <> 'c' AND t.typcategory <> 'A'
  AND NOT t.typname::text = ANY($2::text[])";

const PG_COLUMNS: &str = "
SELECT c.relname::text AS table_name,
       row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum) AS position,
       a.attname::text AS name,
       format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull AS not_null,
       pg_get_expr(d.adbin, d.adrelid) AS default_expr,
       a.attidentity::text AS identity,
       a.attgenerated::text AS generated,
       CASE WHEN a.attcollation <> t.typcollation THEN co.collname::text END AS collation
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation
WHERE n.nspname::text = $1::text AND c.relname::text = ANY($2::text[]) AND a.attnum > 0 AND NOT a.attisdropped";

const PG_CONSTRAINTS: &str = "
SELECT c.relname::text AS table_name, con.conname::text AS name, con.contype::text AS kind,
       ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.ord) AS columns,
       CASE WHEN fn.oid = n.oid THEN fc.relname::text ELSE fn.nspname::text || '.' || fc.relname::text END
           AS foreign_table,
       ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num ORDER BY k.ord)
           AS foreign_columns,
       con.confdeltype::text AS on_delete, con.confupdtype::text AS on_update,
       con.confmatchtype::text AS match_type, con.condeferrable AS deferrable, con.condeferred AS deferred,
       pg_get_constraintdef(con.oid) AS definition
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class fc ON fc.oid = con.confrelid
LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
WHERE n.nspname::text = $1::text AND c.relname::text = ANY($2::text[])";

const PG_INDEXES: &str = "
SELECT c.relname::text AS table_name, ic.relname::text AS name, i.indisunique AS is_unique,
       i.indisprimary AS is_primary, am.amname::text AS method,
       ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, i.indnkeyatts::int) k
             ORDER BY k) AS keys,
       ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true)
             FROM generate_series(i.indnkeyatts::int + 1, i.indnatts::int) k ORDER BY k) AS included,
       pg_get_expr(i.indpred, i.indrelid) AS predicate,
       pg_get_indexdef(i.indexrelid) AS definition
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_am am ON am.oid = ic.relam
WHERE n.nspname::text = $1::text AND c.relname::text = ANY($2::text[])";

const PG_TRIGGERS: &str = "
SELECT c.relname::text AS table_name, t.tgname::text AS name, pg_get_triggerdef(t.oid) AS definition
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname::text = $1::text AND c.relname::text = ANY($2::text[]) AND NOT t.tgisinternal";

/// Runs a catalog query with `$1` = the schema and `$2` = the table names.
async fn pg_rows(client: &Client, sql: &str, schema: &str, names: &[&str]) -> Vec<Row> {
    let names = names.to_vec();
    client.query(sql, &[&schema, &names]).await.unwrap_or_else(|e| panic!("catalog query failed: {e}\n{sql}"))
}

/// The catalog of the Auth.js tables in `schema`, one sorted line per fact.
async fn pg_catalog(client: &Client, schema: &str) -> Vec<String> {
    let query = |sql: &'static str, names: &'static [&'static str]| pg_rows(client, sql, schema, names);
    let mut lines = Vec::new();

    for row in query(PG_RELATIONS, &IGNORED).await {
        let (name, kind, persistence, rls): (String, String, String, bool) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        let kind = match kind.as_str() {
            "r" => "table",
            "p" => "partitioned table",
            "v" => "view",
            "m" => "materialized view",
            "S" => "sequence",
            "f" => "foreign table",
            _ => "relation",
        };
        let persistence = if persistence == "u" { " UNLOGGED" } else { "" };
        let rls = if rls { " ROW LEVEL SECURITY" } else { "" };
        lines.push(format!("{name}: {kind}{persistence}{rls}"));
    }

    for row in query(PG_TYPES, &IGNORED).await {
        let (name, kind): (String, String) = (row.get(0), row.get(1));
        lines.push(format!("(schema): type \"{name}\" typtype={kind}"));
    }

    for row in query(PG_COLUMNS, &TABLES).await {
        let table: String = row.get("table_name");
        let position: i64 = row.get("position");
        let name: String = row.get("name");
        let ty: String = row.get("type");
        let not_null: bool = row.get("not_null");
        let default: Option<String> = row.get("default_expr");
        let identity: String = row.get("identity");
        let generated: String = row.get("generated");
        let collation: Option<String> = row.get("collation");
        let mut line =
            format!("{table}: column {position:02} \"{name}\" {ty} {}", if not_null { "NOT NULL" } else { "NULL" });
        line.push_str(&format!(" DEFAULT {}", default.as_deref().unwrap_or("-")));
        if !identity.is_empty() {
            line.push_str(&format!(" IDENTITY {identity}"));
        }
        if !generated.is_empty() {
            line.push_str(&format!(" GENERATED {generated}"));
        }
        if let Some(collation) = collation {
            line.push_str(&format!(" COLLATE \"{collation}\""));
        }
        lines.push(line);
    }

    for row in query(PG_CONSTRAINTS, &TABLES).await {
        let table: String = row.get("table_name");
        let name: String = row.get("name");
        let kind: String = row.get("kind");
        let columns: Vec<String> = row.get("columns");
        let line = match kind.as_str() {
            "p" => format!("{table}: primary key \"{name}\" ({})", quote_list(&columns)),
            "u" => format!("{table}: unique constraint \"{name}\" ({})", quote_list(&columns)),
            "f" => {
                let foreign_table: String = row.get("foreign_table");
                let foreign_columns: Vec<String> = row.get("foreign_columns");
                let on_delete: String = row.get("on_delete");
                let on_update: String = row.get("on_update");
                let match_type: String = row.get("match_type");
                let deferrable: bool = row.get("deferrable");
                let deferred: bool = row.get("deferred");
                format!(
                    "{table}: foreign key \"{name}\" ({}) -> \"{foreign_table}\"({}) ON DELETE {} ON UPDATE {} MATCH {} {}",
                    quote_list(&columns),
                    quote_list(&foreign_columns),
                    fk_action(&on_delete),
                    fk_action(&on_update),
                    fk_match(&match_type),
                    match (deferrable, deferred) {
                        (false, _) => "NOT DEFERRABLE",
                        (true, false) => "DEFERRABLE INITIALLY IMMEDIATE",
                        (true, true) => "DEFERRABLE INITIALLY DEFERRED",
                    }
                )
            }
            _ => {
                let definition: String = row.get("definition");
                format!("{table}: constraint \"{name}\" contype={kind} {definition}")
            }
        };
        lines.push(line);
    }

    for row in query(PG_INDEXES, &TABLES).await {
        let table: String = row.get("table_name");
        let name: String = row.get("name");
        let unique: bool = row.get("is_unique");
        let primary: bool = row.get("is_primary");
        let method: String = row.get("method");
        let keys: Vec<String> = row.get("keys");
        let included: Vec<String> = row.get("included");
        let predicate: Option<String> = row.get("predicate");
        let definition: String = row.get("definition");
        let kind = match (primary, unique) {
            (true, _) => "primary key index",
            (false, true) => "unique index",
            (false, false) => "index",
        };
        let mut line = format!("{table}: {kind} \"{name}\" {method} ({})", keys.join(", "));
        if !included.is_empty() {
            line.push_str(&format!(" INCLUDE ({})", included.join(", ")));
        }
        if let Some(predicate) = predicate {
            line.push_str(&format!(" WHERE {predicate}"));
        }
        lines.push(line);
        lines.push(format!("{table}: index \"{name}\" definition: {definition}"));
    }

    for row in query(PG_TRIGGERS, &TABLES).await {
        let (table, name, definition): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        lines.push(format!("{table}: trigger \"{name}\" {definition}"));
    }

    sorted(lines)
}

/// The Auth.js tables that exist in `schema`.
async fn pg_tables_in(client: &Client, schema: &str) -> Vec<String> {
    let tables: Vec<&str> = TABLES.to_vec();
    client
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname::text = $1::text AND c.relname::text = ANY($2::text[]) ORDER BY 1",
            &[&schema, &tables],
        )
        .await
        .expect("list tables")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// The URL with `key=value` added to its query, as a Prisma user writes it.
fn with_param(url: &str, key: &str, value: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("database URL");
    parsed.query_pairs_mut().append_pair(key, value);
    parsed.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migrations_create_prismas_catalog() {
    let Some((_prisma_scratch, prisma_url)) = Scratch::create(Backend::Postgres).await else { return };
    let Some((_our_scratch, our_url)) = Scratch::create(Backend::Postgres).await else { return };

    let prisma = pg_connect(&prisma_url).await;
    prisma.batch_execute(&prisma_ddl("postgresql.sql")).await.expect("apply Prisma's DDL");
    let db = ready_db(&our_url).await;
    let ours = pg_connect(&our_url).await;

    let expected = pg_catalog(&prisma, "public").await;
    assert_complete("PostgreSQL (Prisma)", &expected);
    assert_same("PostgreSQL", &expected, &pg_catalog(&ours, "public").await);
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_schema_parameter_creates_prismas_catalog_in_that_schema() {
    let Some((_prisma_scratch, prisma_url)) = Scratch::create(Backend::Postgres).await else { return };
    let Some((_our_scratch, our_url)) = Scratch::create(Backend::Postgres).await else { return };

    let prisma = pg_connect(&prisma_url).await;
    prisma.batch_execute("CREATE SCHEMA auth; SET search_path TO auth;").await.expect("create schema auth");
    prisma.batch_execute(&prisma_ddl("postgresql.sql")).await.expect("apply Prisma's DDL in schema auth");
    assert_eq!(pg_tables_in(&prisma, "public").await, Vec::<String>::new(), "Prisma's DDL was meant to land in auth");

    let db = ready_db(&with_param(&our_url, "schema", "auth")).await;
    let ours = pg_connect(&our_url).await;

    let expected = pg_catalog(&prisma, "auth").await;
    assert_complete("PostgreSQL ?schema=auth (Prisma)", &expected);
    assert_same("PostgreSQL ?schema=auth", &expected, &pg_catalog(&ours, "auth").await);
    assert_eq!(
        pg_tables_in(&ours, "public").await,
        Vec::<String>::new(),
        "with ?schema=auth no Auth.js table may be created in public"
    );
    drop(db);
}

/// Each change, made to a copy of Prisma's schema, must show up in the comparison with the lines
/// the fragment names; otherwise the comparison could pass without looking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_comparison_reports_every_kind_of_drift() {
    let Some((_scratch, url)) = Scratch::create(Backend::Postgres).await else { return };
    let client = pg_connect(&url).await;
    client.batch_execute(&reference_ddl("postgresql.sql")).await.expect("apply Prisma's DDL");
    let reference = pg_catalog(&client, "public").await;
    assert_complete("PostgreSQL (Prisma)", &reference);

    let changes: &[(&str, &str)] = &[
        (
            r#"ALTER TABLE "sessions" DROP CONSTRAINT "sessions_userId_fkey", ADD CONSTRAINT "sessions_userId_fkey"
               FOREIGN KEY ("userId") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE"#,
            r#"+ sessions: foreign key "sessions_userId_fkey" ("userId") -> "users"("id") ON DELETE SET NULL ON UPDATE CASCADE"#,
        ),
        (
            r#"ALTER TABLE "accounts" DROP CONSTRAINT "accounts_userId_fkey", ADD CONSTRAINT "accounts_userId_fkey"
               FOREIGN KEY ("userId") REFERENCES "users"("id") ON DELETE CASCADE"#,
            "ON DELETE CASCADE ON UPDATE NO ACTION",
        ),
        (r#"DROP INDEX "users_email_key""#, r#"- users: unique index "users_email_key" btree (email)"#),
        (
            r#"ALTER INDEX "sessions_sessionToken_key" RENAME TO "sessions_token_key""#,
            r#"- sessions: unique index "sessions_sessionToken_key""#,
        ),
        (
            r#"CREATE INDEX "accounts_userId_idx" ON "accounts"("userId")"#,
            r#"+ accounts: index "accounts_userId_idx" btree ("userId")"#,
        ),
        (
            r#"DROP INDEX "accounts_provider_providerAccountId_key";
               CREATE UNIQUE INDEX "accounts_provider_providerAccountId_key" ON "accounts"("providerAccountId", "provider")"#,
            r#"btree ("providerAccountId", provider)"#,
        ),
        (
            r#"DROP INDEX "users_email_key"; ALTER TABLE "users" ADD CONSTRAINT "users_email_key" UNIQUE ("email")"#,
            r#"+ users: unique constraint "users_email_key" ("email")"#,
        ),
        (r#"ALTER TABLE "sessions" ALTER COLUMN "expires" TYPE TIMESTAMP(6)"#, "timestamp(6) without time zone"),
        (r#"ALTER TABLE "users" ALTER COLUMN "emailVerified" TYPE TIMESTAMPTZ(3)"#, "timestamp(3) with time zone"),
        (r#"ALTER TABLE "accounts" ALTER COLUMN "expires_at" TYPE BIGINT"#, r#""expires_at" bigint"#),
        (r#"ALTER TABLE "users" ALTER COLUMN "email" SET NOT NULL"#, r#"+ users: column 03 "email" text NOT NULL"#),
        (r#"ALTER TABLE "accounts" ALTER COLUMN "type" SET DEFAULT 'oauth'"#, "DEFAULT 'oauth'::text"),
        (r#"ALTER TABLE "users" DROP COLUMN "name", ADD COLUMN "name" TEXT"#, r#"+ users: column 05 "name""#),
        (
            r#"ALTER TABLE "authenticators" DROP CONSTRAINT "authenticators_pkey",
               ADD CONSTRAINT "authenticators_pkey" PRIMARY KEY ("credentialID", "userId")"#,
            r#"+ authenticators: primary key "authenticators_pkey" ("credentialID", "userId")"#,
        ),
        (r#"CREATE TABLE "extra" ("id" TEXT)"#, "+ extra: table"),
    ];
    for (change, expected) in changes {
        client.batch_execute(&format!("BEGIN; {change};")).await.unwrap_or_else(|e| panic!("{change}: {e}"));
        let changed = pg_catalog(&client, "public").await;
        client.batch_execute("ROLLBACK").await.expect("rollback");
        let report = diff(&reference, &changed).unwrap_or_else(|| panic!("the comparison did not notice: {change}"));
        assert!(report.contains(expected), "after {change}\nthe report lacks {expected:?}:\n{report}");
    }
    assert_same("PostgreSQL after the rollbacks", &reference, &pg_catalog(&client, "public").await);
}

// ---------------------------------------------------------------------------------------------
// SQLite catalog.
// ---------------------------------------------------------------------------------------------

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

fn sqlite_open(path: &str) -> SqliteConnection {
    SqliteConnection::establish(path).unwrap_or_else(|e| panic!("open SQLite {path}: {e}"))
}

/// The catalog of the Auth.js tables, one sorted line per fact.
fn sqlite_catalog(conn: &mut SqliteConnection) -> Vec<String> {
    let list = |names: &[&str]| names.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ");
    let (tables, ignored) = (list(&TABLES), list(&IGNORED));
    let queries = [
        // Every schema object (tables, indexes including autoindexes, views, triggers).
        format!(
            "SELECT printf('%s: schema object %s \"%s\"', tbl_name, type, name) AS line FROM sqlite_master \
             WHERE tbl_name NOT IN ({ignored})"
        ),
        format!(
            "SELECT printf('%s: %s columns=%d without_rowid=%d strict=%d', name, type, ncol, wr, strict) AS line \
             FROM pragma_table_list WHERE schema = 'main' AND name NOT IN ({ignored}) AND name NOT LIKE 'sqlite_%'"
        ),
        format!(
            "SELECT printf('%s: column %02d \"%s\" type=%s %s default=%s pk=%d hidden=%d', m.name, c.cid + 1, c.name, \
                    c.type, CASE c.\"notnull\" WHEN 0 THEN 'NULL' ELSE 'NOT NULL' END, \
                    coalesce(c.dflt_value, '-'), c.pk, c.hidden) AS line \
             FROM sqlite_master m JOIN pragma_table_xinfo(m.name) c \
             WHERE m.type = 'table' AND m.name IN ({tables})"
        ),
        format!(
            "SELECT printf('%s: index \"%s\" unique=%d origin=%s partial=%d (%s)', m.name, i.name, i.\"unique\", \
                    i.origin, i.partial, \
                    (SELECT group_concat(coalesce('\"' || x.name || '\"', '<expression>') \
                                         || CASE x.\"desc\" WHEN 1 THEN ' DESC' ELSE '' END \
                                         || ' COLLATE ' || x.coll, ', ' ORDER BY x.seqno) \
                     FROM pragma_index_xinfo(i.name) x WHERE x.key = 1)) AS line \
             FROM sqlite_master m JOIN pragma_index_list(m.name) i \
             WHERE m.type = 'table' AND m.name IN ({tables})"
        ),
        format!(
            "SELECT printf('%s: foreign key (%s) -> \"%s\"(%s) ON DELETE %s ON UPDATE %s MATCH %s', m.name, \
                    group_concat('\"' || f.\"from\" || '\"', ', ' ORDER BY f.seq), f.\"table\", \
                    group_concat(coalesce('\"' || f.\"to\" || '\"', '<primary key>'), ', ' ORDER BY f.seq), \
                    f.on_delete, f.on_update, f.\"match\") AS line \
             FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f \
             WHERE m.type = 'table' AND m.name IN ({tables}) GROUP BY m.name, f.id"
        ),
    ];
    let mut lines = Vec::new();
    for sql in &queries {
        let rows: Vec<Line> = sql_query(sql).load(conn).unwrap_or_else(|e| panic!("catalog query failed: {e}\n{sql}"));
        lines.extend(rows.into_iter().map(|r| r.line));
    }
    sorted(lines)
}

/// Prisma's SQLite schema in a fresh in-memory database, with `ddl` instead of the reference.
fn sqlite_catalog_of(ddl: &str) -> Vec<String> {
    let mut conn = sqlite_open(":memory:");
    conn.batch_execute(ddl).unwrap_or_else(|e| panic!("apply DDL: {e}\n{ddl}"));
    sqlite_catalog(&mut conn)
}

fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("file:").unwrap_or(url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_migrations_create_prismas_catalog() {
    let (_prisma_scratch, prisma_url) = Scratch::create(Backend::Sqlite).await.expect("SQLite scratch");
    let (_our_scratch, our_url) = Scratch::create(Backend::Sqlite).await.expect("SQLite scratch");

    let mut prisma = sqlite_open(sqlite_path(&prisma_url));
    prisma.batch_execute(&prisma_ddl("sqlite.sql")).expect("apply Prisma's DDL");
    let db = ready_db(&our_url).await;
    let mut ours = sqlite_open(sqlite_path(&our_url));

    let expected = sqlite_catalog(&mut prisma);
    assert_complete("SQLite (Prisma)", &expected);
    assert!(
        expected.iter().any(|l| l.starts_with("authenticators: index \"sqlite_autoindex_authenticators_1\"")),
        "the autoindexes are part of the comparison:\n{}",
        expected.join("\n")
    );
    assert_same("SQLite", &expected, &sqlite_catalog(&mut ours));
    drop(db);
}

/// Each change to Prisma's DDL must show up in the comparison with the lines the fragment names.
#[test]
fn sqlite_comparison_reports_every_kind_of_drift() {
    let ddl = reference_ddl("sqlite.sql");
    let reference = sqlite_catalog_of(&ddl);
    assert_complete("SQLite (Prisma)", &reference);

    let fk = |table: &str| format!("\"{table}_userId_fkey\" FOREIGN KEY (\"userId\") REFERENCES \"users\" (\"id\")");
    let changes: Vec<(String, String, &str)> = vec![
        (
            format!("{} ON DELETE CASCADE", fk("sessions")),
            format!("{} ON DELETE SET NULL", fk("sessions")),
            "+ sessions: foreign key (\"userId\") -> \"users\"(\"id\") ON DELETE SET NULL ON UPDATE CASCADE",
        ),
        (
            format!("{} ON DELETE CASCADE ON UPDATE CASCADE", fk("accounts")),
            format!("{} ON DELETE CASCADE", fk("accounts")),
            "ON DELETE CASCADE ON UPDATE NO ACTION",
        ),
        (
            "CREATE UNIQUE INDEX \"users_email_key\" ON \"users\"(\"email\");".into(),
            String::new(),
            "- users: index \"users_email_key\" unique=1",
        ),
        (
            "CREATE UNIQUE INDEX \"authenticators_credentialID_key\"".into(),
            "CREATE INDEX \"authenticators_credentialID_key\"".into(),
            "+ authenticators: index \"authenticators_credentialID_key\" unique=0",
        ),
        (
            "CREATE UNIQUE INDEX \"sessions_sessionToken_key\"".into(),
            "CREATE UNIQUE INDEX \"sessions_token_key\"".into(),
            "+ sessions: index \"sessions_token_key\"",
        ),
        (
            "(\"provider\", \"providerAccountId\")".into(),
            "(\"providerAccountId\", \"provider\")".into(),
            "(\"providerAccountId\" COLLATE BINARY, \"provider\" COLLATE BINARY)",
        ),
        ("\"emailVerified\" DATETIME,".into(), "\"emailVerified\" TEXT,".into(), "\"emailVerified\" type=TEXT"),
        (
            "\"token\" TEXT NOT NULL,".into(),
            "\"token\" TEXT,".into(),
            "+ verification_tokens: column 02 \"token\" type=TEXT NULL",
        ),
        ("\"counter\" INTEGER NOT NULL,".into(), "\"counter\" INTEGER NOT NULL DEFAULT 0,".into(), "default=0"),
        (
            "\"identifier\" TEXT NOT NULL,\n    \"token\" TEXT NOT NULL,".into(),
            "\"token\" TEXT NOT NULL,\n    \"identifier\" TEXT NOT NULL,".into(),
            "+ verification_tokens: column 01 \"token\"",
        ),
        (
            "PRIMARY KEY (\"userId\", \"credentialID\")".into(),
            "PRIMARY KEY (\"credentialID\", \"userId\")".into(),
            "+ authenticators: index \"sqlite_autoindex_authenticators_1\" unique=1 origin=pk partial=0 (\"credentialID\"",
        ),
        (
            "\"id\" TEXT NOT NULL PRIMARY KEY,\n    \"name\" TEXT,".into(),
            "\"id\" TEXT NOT NULL,\n    \"name\" TEXT,".into(),
            "- users: index \"sqlite_autoindex_users_1\"",
        ),
        (
            "CREATE UNIQUE INDEX \"users_email_key\"".into(),
            "CREATE TABLE \"extra\" (\"id\" TEXT);\nCREATE UNIQUE INDEX \"users_email_key\"".into(),
            "+ extra: table columns=1",
        ),
    ];
    for (from, to, expected) in &changes {
        assert_eq!(ddl.matches(from.as_str()).count(), 1, "{from:?} must occur once in the reference DDL");
        let changed = sqlite_catalog_of(&ddl.replacen(from.as_str(), to, 1));
        let report =
            diff(&reference, &changed).unwrap_or_else(|| panic!("the comparison did not notice {from:?} -> {to:?}"));
        assert!(report.contains(expected), "after {from:?} -> {to:?}\nthe report lacks {expected:?}:\n{report}");
    }
}
