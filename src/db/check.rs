//! Verifies that the live schema has every table and column authbridge reads and writes, with
//! types it can decode, and no extra column that an insert could not fill.

use std::fmt;

use diesel::sql_types::{Bool, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::RunQueryDsl;

use super::migrate::TABLES;
use super::{Db, Pool, StartError, with_conn};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    DateTime,
    Int,
    Bool,
}

impl Kind {
    fn accepts(self, backend_type: &str) -> bool {
        let t = backend_type.to_ascii_lowercase();
        match self {
            // Teams sometimes narrow strings with @db.VarChar(n); those still decode as text.
            Kind::Text => matches!(t.as_str(), "text" | "character varying") || t.starts_with("varchar"),
            Kind::DateTime => matches!(t.as_str(), "timestamp without time zone" | "datetime"),
            Kind::Int => matches!(t.as_str(), "integer" | "int"),
            Kind::Bool => matches!(t.as_str(), "boolean"),
        }
    }

    fn prisma(self) -> &'static str {
        match self {
            Kind::Text => "String (text)",
            Kind::DateTime => "DateTime (timestamp(3) / DATETIME)",
            Kind::Int => "Int (integer)",
            Kind::Bool => "Boolean",
        }
    }
}

/// Table, column, type, nullable: the Prisma schema of `prisma/schema.prisma`.
const EXPECTED: &[(&str, &str, Kind, bool)] = &[
    ("users", "id", Kind::Text, false),
    ("users", "name", Kind::Text, true),
    ("users", "email", Kind::Text, true),
    ("users", "emailVerified", Kind::DateTime, true),
    ("users", "image", Kind::Text, true),
    ("sessions", "id", Kind::Text, false),
    ("sessions", "sessionToken", Kind::Text, false),
    ("sessions", "userId", Kind::Text, false),
    ("sessions", "expires", Kind::DateTime, false),
    ("accounts", "id", Kind::Text, false),
    ("accounts", "userId", Kind::Text, false),
    ("accounts", "type", Kind::Text, false),
    ("accounts", "provider", Kind::Text, false),
    ("accounts", "providerAccountId", Kind::Text, false),
    ("accounts", "refresh_token", Kind::Text, true),
    ("accounts", "access_token", Kind::Text, true),
    ("accounts", "expires_at", Kind::Int, true),
    ("accounts", "token_type", Kind::Text, true),
    ("accounts", "scope", Kind::Text, true),
    ("accounts", "id_token", Kind::Text, true),
    ("accounts", "session_state", Kind::Text, true),
    ("verification_tokens", "identifier", Kind::Text, false),
    ("verification_tokens", "token", Kind::Text, false),
    ("verification_tokens", "expires", Kind::DateTime, false),
    ("authenticators", "credentialID", Kind::Text, false),
    ("authenticators", "userId", Kind::Text, false),
    ("authenticators", "providerAccountId", Kind::Text, false),
    ("authenticators", "credentialPublicKey", Kind::Text, false),
    ("authenticators", "counter", Kind::Int, false),
    ("authenticators", "credentialDeviceType", Kind::Text, false),
    ("authenticators", "credentialBackedUp", Kind::Bool, false),
    ("authenticators", "transports", Kind::Text, true),
];

#[derive(QueryableByName, Debug)]
struct LiveColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Bool)]
    nullable: bool,
    #[diesel(sql_type = Bool)]
    has_default: bool,
}

/// Everything that differs, one readable line each.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub problems: Vec<String>,
}

impl Report {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

const PG_COLUMNS: &str = "SELECT table_name::text AS table_name, column_name::text AS column_name, \
    data_type::text AS data_type, is_nullable = 'YES' AS nullable, column_default IS NOT NULL AS has_default \
    FROM information_schema.columns WHERE table_schema = current_schema() \
    AND table_name IN ('users', 'sessions', 'accounts', 'verification_tokens', 'authenticators')";

const SQLITE_COLUMNS: &str = "SELECT m.name AS table_name, c.name AS column_name, c.type AS data_type, \
    c.\"notnull\" = 0 AND c.pk = 0 AS nullable, c.dflt_value IS NOT NULL AS has_default \
    FROM sqlite_master m JOIN pragma_table_info(m.name) c \
    WHERE m.type = 'table' AND m.name IN ('users', 'sessions', 'accounts', 'verification_tokens', 'authenticators')";

/// Compares the live catalog with the Prisma schema.
pub async fn check(db: &Db) -> Result<Report, StartError> {
    let live: Vec<LiveColumn> = with_conn!(db, conn => match db.pool() {
        Pool::Postgres(_) => sql_query(PG_COLUMNS),
        Pool::Sqlite(_) => sql_query(SQLITE_COLUMNS),
    }
    .load(conn)
    .await)
    .map_err(StartError::from)?;
    Ok(compare(&live))
}

fn compare(live: &[LiveColumn]) -> Report {
    let mut problems = Vec::new();
    for table in TABLES {
        if !live.iter().any(|c| c.table_name == table) {
            problems.push(format!("missing table `{table}`"));
        }
    }
    for &(table, column, kind, nullable) in EXPECTED {
        if !live.iter().any(|c| c.table_name == table) {
            continue;
        }
        let Some(found) = live.iter().find(|c| c.table_name == table && c.column_name == column) else {
            problems.push(format!("missing column `{table}`.`{column}` ({})", kind.prisma()));
            continue;
        };
        if !kind.accepts(&found.data_type) {
            problems.push(format!(
                "column `{table}`.`{column}` has type {}, expected {}",
                found.data_type,
                kind.prisma()
            ));
        }
        if found.nullable && !nullable {
            problems.push(format!("column `{table}`.`{column}` is nullable, expected NOT NULL"));
        }
    }
    for extra in live.iter().filter(|c| !EXPECTED.iter().any(|e| e.0 == c.table_name && e.1 == c.column_name)) {
        if !extra.nullable && !extra.has_default {
            problems.push(format!(
                "extra column `{}`.`{}` is NOT NULL without a default: authbridge cannot insert rows into `{}`",
                extra.table_name, extra.column_name, extra.table_name
            ));
        }
    }
    Report { problems }
}
