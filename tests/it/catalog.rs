//! The schema our migrations create is the one Prisma creates, catalog entry for catalog entry,
//! and our migrations are the SQL Prisma generates from the project's `prisma/` schemas.
//!
//! The expected side always comes from real Prisma run on the project's own `prisma/schema*.prisma`:
//! the Prisma 6.19 CLI of `tests/prisma/` (`npm ci` in `tests/prisma/prisma6`; Prisma 7's
//! `migrate`/`db` commands do nothing offline) creates one database with `prisma db push` and one
//! with `prisma migrate deploy` of `prisma migrate diff --from-empty`; the service creates a third
//! from `migrations/`. Each catalog is read into sorted, human-readable lines and diffed: `-` lines
//! exist only in Prisma's schema, `+` lines only in ours. Bookkeeping tables
//! (`__diesel_schema_migrations`, `_prisma_migrations`) are ignored.
//!
//! Without the Prisma CLI installed these tests are skipped (`Need::PrismaCli`), so that `cargo
//! test` works on a machine without Node; `AUTHBRIDGE_PRISMA_TESTS=required` (set by
//! `tests/prisma/ci.sh`) turns the skip into a failure. The drift tests, which prove the comparison
//! sees every kind of change, need no Prisma.

use std::path::{Path, PathBuf};
use std::process::Command;

use diesel::connection::SimpleConnection;
use diesel::sql_types::Text;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, QueryableByName, RunQueryDsl, sql_query};
use tokio_postgres::{Client, NoTls, Row};

use crate::harness::Need;
use crate::support::{Backend, Scratch, ready_db};

crate::harness::tests! {
    async on [Backend::Sqlite, Backend::Postgres] needs [Need::PrismaCli]: migrations_are_prisma_output;
    async on [Backend::Postgres] needs [Need::PrismaCli]:
        postgres_migrations_create_the_catalog_prisma_push_and_deploy_create,
        postgres_schema_parameter_creates_prismas_catalog_in_that_schema,
        postgres_no_foreign_key_ddl_is_prisma_output_and_prismas_catalog;
    async on [Backend::Sqlite] needs [Need::PrismaCli]:
        sqlite_migrations_create_the_catalog_prisma_push_and_deploy_create,
        sqlite_no_foreign_key_ddl_is_prisma_output_and_prismas_catalog;
    async on [Backend::Postgres]:
        postgres_comparison_reports_every_kind_of_drift,
        postgres_no_foreign_key_ddl_is_the_migrations_catalog_without_foreign_keys;
    sync: sqlite_comparison_reports_every_kind_of_drift, sqlite_no_foreign_key_ddl_is_the_migrations_catalog_without_foreign_keys;
}

/// The Auth.js tables, spelled out here so that the test cannot shrink with the code under test.
const TABLES: [&str; 5] = ["users", "sessions", "accounts", "verification_tokens", "authenticators"];
/// Migration bookkeeping, not part of the schema.
const IGNORED: [&str; 2] = ["__diesel_schema_migrations", "_prisma_migrations"];

// ---------------------------------------------------------------------------------------------
// Files.
// ---------------------------------------------------------------------------------------------

fn project_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The two backends' files: migrations folder, Prisma schema, Prisma provider, CLI flavour.
#[derive(Debug, Clone, Copy)]
struct Flavour {
    migrations: &'static str,
    schema: &'static str,
    provider: &'static str,
    cli: &'static str,
}

const POSTGRES: Flavour =
    Flavour { migrations: "migrations/postgres", schema: "prisma/schema.prisma", provider: "postgresql", cli: "pg" };
const SQLITE: Flavour = Flavour {
    migrations: "migrations/sqlite",
    schema: "prisma/schema.sqlite.prisma",
    provider: "sqlite",
    cli: "sqlite",
};

/// Prisma's `relationMode = "prisma"` variants (no foreign keys), and the DDL Prisma prints for
/// them, kept in `prisma/relation-mode-prisma/` for teams and tests; authbridge never creates it.
const POSTGRES_NO_FK: Flavour = Flavour { schema: "prisma/relation-mode-prisma/schema.prisma", ..POSTGRES };
const SQLITE_NO_FK: Flavour = Flavour { schema: "prisma/relation-mode-prisma/schema.sqlite.prisma", ..SQLITE };
const POSTGRES_NO_FK_DDL: &str = "prisma/relation-mode-prisma/postgresql.sql";
const SQLITE_NO_FK_DDL: &str = "prisma/relation-mode-prisma/sqlite.sql";

/// The migration folders of a backend, in the order they are applied.
fn migration_dirs(flavour: Flavour) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(project_file(flavour.migrations))
        .expect("migrations folder")
        .map(|entry| entry.expect("migrations entry").path())
        .filter(|path| path.join("up.sql").is_file())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no migrations in {}", flavour.migrations);
    dirs
}

/// Every `up.sql` of a backend, in order: the schema our migrations build.
fn migrations_sql(flavour: Flavour) -> String {
    migration_dirs(flavour).iter().map(|dir| read_text(&dir.join("up.sql"))).collect::<Vec<_>>().join("\n")
}

/// Where two texts part, for a failure message.
fn first_difference(expected: &str, actual: &str) -> String {
    let (mut e, mut a) = (expected.split_inclusive('\n'), actual.split_inclusive('\n'));
    for line in 1.. {
        match (e.next(), a.next()) {
            (Some(x), Some(y)) if x == y => continue,
            (None, None) => break,
            (x, y) => {
                return format!(
                    "first difference at line {line}:\n  Prisma: {:?}\n  ours:   {:?}",
                    x.unwrap_or("<end of file>"),
                    y.unwrap_or("<end of file>")
                );
            }
        }
    }
    "no difference".into()
}

// ---------------------------------------------------------------------------------------------
// The Prisma 6.19 CLI of tests/prisma.
// ---------------------------------------------------------------------------------------------

/// `tests/prisma/bin/prisma6`, for a test that declares `Need::PrismaCli`.
fn prisma_cli() -> PathBuf {
    PathBuf::from(Need::PrismaCli.get())
}

/// Runs `prisma6 <cli> <args>` with `DATABASE_URL`; returns stdout, panics with stderr on failure.
async fn prisma(cli: &Path, flavour: Flavour, database_url: &str, args: &[&str]) -> String {
    let (cli, shown) = (cli.to_owned(), args.join(" "));
    let args = args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let (database_url, prov) = (database_url.to_owned(), flavour.cli);
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&cli)
            .arg(prov)
            .args(&args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("DATABASE_URL", database_url)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", cli.display()))
    })
    .await
    .expect("prisma task");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "prisma {} {shown} failed ({}):\n{stdout}\n{stderr}", flavour.cli, output.status);
    stdout.into_owned()
}

/// `prisma migrate diff --from-empty` (or from an earlier schema) to `to`, as a script.
async fn prisma_diff(cli: &Path, flavour: Flavour, database_url: &str, from: Option<&Path>, to: &Path) -> String {
    let to = to.to_str().expect("UTF-8 path");
    let from = from.map(|p| p.to_str().expect("UTF-8 path").to_owned());
    let mut args = vec!["migrate", "diff"];
    match &from {
        Some(from) => args.extend(["--from-schema-datamodel", from.as_str()]),
        None => args.push("--from-empty"),
    }
    args.extend(["--to-schema-datamodel", to, "--script"]);
    prisma(cli, flavour, database_url, &args).await
}

/// `prisma db push` of the project's schema.
async fn prisma_push(cli: &Path, flavour: Flavour, database_url: &str) {
    prisma(cli, flavour, database_url, &["db", "push", "--skip-generate", "--schema", flavour.schema]).await;
}

/// `prisma migrate deploy` of a one-migration history: Prisma's from-empty SQL for the project's
/// schema, the way a team starts a Prisma project. Returns the folder, which must outlive the call
/// only for inspection.
async fn prisma_deploy(cli: &Path, flavour: Flavour, database_url: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let prisma_dir = dir.path().join("prisma");
    let init = prisma_dir.join("migrations/0_init");
    std::fs::create_dir_all(&init).expect("migrations dir");
    let sql = prisma_diff(cli, flavour, database_url, None, &project_file(flavour.schema)).await;
    std::fs::write(init.join("migration.sql"), sql).expect("write migration");
    std::fs::write(prisma_dir.join("migrations/migration_lock.toml"), format!("provider = \"{}\"\n", flavour.provider))
        .expect("write lock");
    let schema = prisma_dir.join("schema.prisma");
    std::fs::copy(project_file(flavour.schema), &schema).expect("copy schema");
    prisma(cli, flavour, database_url, &["migrate", "deploy", "--schema", schema.to_str().expect("UTF-8")]).await;
    dir
}

/// Each migration's `up.sql` is exactly what Prisma prints for the step from the previous
/// migration's `schema.prisma` (or from nothing) to its own, and the last migration's
/// `schema.prisma` is the project's: the migrations can never drift from `prisma/`.
async fn migrations_are_prisma_output(backend: Backend) {
    match backend {
        Backend::Postgres => {
            let (_scratch, url) = Scratch::create(backend).await;
            migrations_of_are_prisma_output(POSTGRES, &url).await;
        }
        _ => migrations_of_are_prisma_output(SQLITE, ":memory:").await,
    }
}

async fn migrations_of_are_prisma_output(flavour: Flavour, database_url: &str) {
    let cli = prisma_cli();
    let mut previous: Option<PathBuf> = None;
    let mut failures = Vec::new();
    for dir in migration_dirs(flavour) {
        let name = dir.file_name().expect("name").to_string_lossy().into_owned();
        let schema = dir.join("schema.prisma");
        assert!(
            schema.is_file(),
            "{}/{name} has no schema.prisma: every migration keeps the Prisma schema it migrates to \
             (migrations/README.md)",
            flavour.migrations
        );
        let expected = prisma_diff(&cli, flavour, database_url, previous.as_deref(), &schema).await;
        let ours = read_text(&dir.join("up.sql"));
        if expected != ours {
            failures.push(format!(
                "{}/{name}/up.sql is not what `prisma migrate diff` prints for its schema.prisma: {}",
                flavour.migrations,
                first_difference(&expected, &ours)
            ));
        }
        previous = Some(schema);
    }
    let last = previous.expect("at least one migration");
    let (last_text, project_text) = (read_text(&last), read_text(&project_file(flavour.schema)));
    if last_text != project_text {
        failures.push(format!(
            "{} differs from {}: add a migration for the change (migrations/README.md); {}",
            flavour.schema,
            last.display(),
            first_difference(&project_text, &last_text)
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
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
    assert_complete_with(what, catalog, 3);
}

/// [`assert_complete`] for a schema with `foreign_keys` foreign keys to users (0 for Prisma's
/// `relationMode = "prisma"`).
fn assert_complete_with(what: &str, catalog: &[String], foreign_keys: usize) {
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
    let found = catalog.iter().filter(|l| l.contains(": foreign key ")).count();
    assert_eq!(found, foreign_keys, "{what}: expected {foreign_keys} foreign keys to users:\n{}", catalog.join("\n"));
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

async fn postgres_migrations_create_the_catalog_prisma_push_and_deploy_create(backend: Backend) {
    let cli = prisma_cli();
    let (_push_scratch, push_url) = Scratch::create(backend).await;
    let (_deploy_scratch, deploy_url) = Scratch::create(backend).await;
    let (_our_scratch, our_url) = Scratch::create(backend).await;

    prisma_push(&cli, POSTGRES, &push_url).await;
    let _history = prisma_deploy(&cli, POSTGRES, &deploy_url).await;
    let db = ready_db(&our_url).await;

    let pushed = pg_catalog(&pg_connect(&push_url).await, "public").await;
    assert_complete("PostgreSQL (prisma db push)", &pushed);
    let deployed_client = pg_connect(&deploy_url).await;
    let deployed = pg_catalog(&deployed_client, "public").await;
    let ours = pg_catalog(&pg_connect(&our_url).await, "public").await;
    assert_same("PostgreSQL, prisma db push", &pushed, &ours);
    assert_same("PostgreSQL, prisma migrate deploy", &deployed, &ours);
    let applied = deployed_client
        .query_one("SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL", &[])
        .await
        .expect("_prisma_migrations");
    assert_eq!(applied.get::<_, i64>(0), 1, "migrate deploy recorded its migration");
    drop(db);
}

async fn postgres_schema_parameter_creates_prismas_catalog_in_that_schema(backend: Backend) {
    let cli = prisma_cli();
    let (_prisma_scratch, prisma_url) = Scratch::create(backend).await;
    let (_our_scratch, our_url) = Scratch::create(backend).await;

    prisma_push(&cli, POSTGRES, &with_param(&prisma_url, "schema", "auth")).await;
    let prisma_client = pg_connect(&prisma_url).await;
    assert_eq!(pg_tables_in(&prisma_client, "public").await, Vec::<String>::new(), "Prisma used schema auth");

    let db = ready_db(&with_param(&our_url, "schema", "auth")).await;
    let ours = pg_connect(&our_url).await;

    let expected = pg_catalog(&prisma_client, "auth").await;
    assert_complete("PostgreSQL ?schema=auth (Prisma)", &expected);
    assert_same("PostgreSQL ?schema=auth", &expected, &pg_catalog(&ours, "auth").await);
    assert_eq!(
        pg_tables_in(&ours, "public").await,
        Vec::<String>::new(),
        "with ?schema=auth no Auth.js table may be created in public"
    );
    drop(db);
}

/// Each change, made to a copy of the schema, must show up in the comparison with the lines the
/// fragment names; otherwise the comparison could pass without looking.
async fn postgres_comparison_reports_every_kind_of_drift(backend: Backend) {
    let (_scratch, url) = Scratch::create(backend).await;
    let client = pg_connect(&url).await;
    client.batch_execute(&migrations_sql(POSTGRES)).await.expect("apply the migrations");
    let reference = pg_catalog(&client, "public").await;
    assert_complete("PostgreSQL (migrations)", &reference);

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

/// The catalog of `ddl` applied to a fresh in-memory database.
fn sqlite_catalog_of(ddl: &str) -> Vec<String> {
    let mut conn = sqlite_open(":memory:");
    conn.batch_execute(ddl).unwrap_or_else(|e| panic!("apply DDL: {e}\n{ddl}"));
    sqlite_catalog(&mut conn)
}

fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("file:").unwrap_or(url)
}

async fn sqlite_migrations_create_the_catalog_prisma_push_and_deploy_create(backend: Backend) {
    let cli = prisma_cli();
    let (_push_scratch, push_url) = Scratch::create(backend).await;
    let (_deploy_scratch, deploy_url) = Scratch::create(backend).await;
    let (_our_scratch, our_url) = Scratch::create(backend).await;

    prisma_push(&cli, SQLITE, &push_url).await;
    let _history = prisma_deploy(&cli, SQLITE, &deploy_url).await;
    let db = ready_db(&our_url).await;

    let pushed = sqlite_catalog(&mut sqlite_open(sqlite_path(&push_url)));
    assert_complete("SQLite (prisma db push)", &pushed);
    assert!(
        pushed.iter().any(|l| l.starts_with("authenticators: index \"sqlite_autoindex_authenticators_1\"")),
        "the autoindexes are part of the comparison:\n{}",
        pushed.join("\n")
    );
    let mut deployed_conn = sqlite_open(sqlite_path(&deploy_url));
    let deployed = sqlite_catalog(&mut deployed_conn);
    let ours = sqlite_catalog(&mut sqlite_open(sqlite_path(&our_url)));
    assert_same("SQLite, prisma db push", &pushed, &ours);
    assert_same("SQLite, prisma migrate deploy", &deployed, &ours);
    let applied: Vec<Line> =
        sql_query("SELECT CAST(count(*) AS TEXT) AS line FROM _prisma_migrations WHERE finished_at IS NOT NULL")
            .load(&mut deployed_conn)
            .expect("_prisma_migrations");
    assert_eq!(applied[0].line, "1", "migrate deploy recorded its migration");
    drop(db);
}

/// Each change to the DDL must show up in the comparison with the lines the fragment names.
fn sqlite_comparison_reports_every_kind_of_drift() {
    let ddl = migrations_sql(SQLITE);
    let reference = sqlite_catalog_of(&ddl);
    assert_complete("SQLite (migrations)", &reference);

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
        assert_eq!(ddl.matches(from.as_str()).count(), 1, "{from:?} must occur once in the migrations");
        let changed = sqlite_catalog_of(&ddl.replacen(from.as_str(), to, 1));
        let report =
            diff(&reference, &changed).unwrap_or_else(|| panic!("the comparison did not notice {from:?} -> {to:?}"));
        assert!(report.contains(expected), "after {from:?} -> {to:?}\nthe report lacks {expected:?}:\n{report}");
    }
}

// ---------------------------------------------------------------------------------------------
// Prisma's relationMode = "prisma" schema (no foreign keys): prisma/relation-mode-prisma/.
// ---------------------------------------------------------------------------------------------

/// `file` is exactly what `prisma migrate diff --from-empty` prints for the flavour's schema.
async fn no_fk_ddl_is_prisma_output(cli: &Path, flavour: Flavour, database_url: &str, file: &str) {
    let expected = prisma_diff(cli, flavour, database_url, None, &project_file(flavour.schema)).await;
    let ours = read_text(&project_file(file));
    assert!(
        expected == ours,
        "{file} is not what `prisma migrate diff --from-empty` prints for {}: {}",
        flavour.schema,
        first_difference(&expected, &ours)
    );
}

/// The no-FK catalog is the migrations' catalog without the three foreign keys and with the
/// `accounts_userId_idx` that Prisma asks for in relationMode = "prisma" (every `+` line names it).
fn assert_migrations_without_foreign_keys(what: &str, migrations: &[String], no_fk: &[String]) {
    let report = diff(migrations, no_fk).unwrap_or_else(|| panic!("{what}: no difference at all"));
    let (removed, added): (Vec<&str>, Vec<&str>) = report.lines().partition(|l| l.starts_with("- "));
    assert!(
        removed.len() == 3 && removed.iter().all(|l| l.contains(": foreign key ")),
        "{what}: only the three foreign keys go:\n{report}"
    );
    assert!(
        !added.is_empty() && added.iter().all(|l| l.starts_with("+ accounts: ") && l.contains("accounts_userId_idx")),
        "{what}: only accounts_userId_idx comes:\n{report}"
    );
}

async fn postgres_no_foreign_key_ddl_is_prisma_output_and_prismas_catalog(backend: Backend) {
    let cli = prisma_cli();
    let (_push_scratch, push_url) = Scratch::create(backend).await;
    let (_file_scratch, file_url) = Scratch::create(backend).await;
    no_fk_ddl_is_prisma_output(&cli, POSTGRES_NO_FK, &push_url, POSTGRES_NO_FK_DDL).await;

    prisma_push(&cli, POSTGRES_NO_FK, &push_url).await;
    let pushed = pg_catalog(&pg_connect(&push_url).await, "public").await;
    assert_complete_with("PostgreSQL relationMode = \"prisma\" (prisma db push)", &pushed, 0);
    let client = pg_connect(&file_url).await;
    client.batch_execute(&read_text(&project_file(POSTGRES_NO_FK_DDL))).await.expect("apply the no-FK DDL");
    assert_same("PostgreSQL relationMode = \"prisma\", prisma db push", &pushed, &pg_catalog(&client, "public").await);
}

async fn sqlite_no_foreign_key_ddl_is_prisma_output_and_prismas_catalog(backend: Backend) {
    let cli = prisma_cli();
    no_fk_ddl_is_prisma_output(&cli, SQLITE_NO_FK, ":memory:", SQLITE_NO_FK_DDL).await;
    let (_push_scratch, push_url) = Scratch::create(backend).await;
    prisma_push(&cli, SQLITE_NO_FK, &push_url).await;
    let pushed = sqlite_catalog(&mut sqlite_open(sqlite_path(&push_url)));
    assert_complete_with("SQLite relationMode = \"prisma\" (prisma db push)", &pushed, 0);
    assert_same(
        "SQLite relationMode = \"prisma\", prisma db push",
        &pushed,
        &sqlite_catalog_of(&read_text(&project_file(SQLITE_NO_FK_DDL))),
    );
}

async fn postgres_no_foreign_key_ddl_is_the_migrations_catalog_without_foreign_keys(backend: Backend) {
    let (_scratch, url) = Scratch::create(backend).await;
    let client = pg_connect(&url).await;
    client.batch_execute(&migrations_sql(POSTGRES)).await.expect("apply the migrations");
    let migrations = pg_catalog(&client, "public").await;
    client.batch_execute("DROP SCHEMA public CASCADE").await.expect("empty the database");
    client.batch_execute(&read_text(&project_file(POSTGRES_NO_FK_DDL))).await.expect("apply the no-FK DDL");
    let no_fk = pg_catalog(&client, "public").await;
    assert_complete_with("PostgreSQL relationMode = \"prisma\"", &no_fk, 0);
    assert_migrations_without_foreign_keys("PostgreSQL", &migrations, &no_fk);
}

fn sqlite_no_foreign_key_ddl_is_the_migrations_catalog_without_foreign_keys() {
    let no_fk = sqlite_catalog_of(&read_text(&project_file(SQLITE_NO_FK_DDL)));
    assert_complete_with("SQLite relationMode = \"prisma\"", &no_fk, 0);
    assert_migrations_without_foreign_keys("SQLite", &sqlite_catalog_of(&migrations_sql(SQLITE)), &no_fk);
}
