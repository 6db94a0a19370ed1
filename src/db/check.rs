//! Verifies that the live schema has every table and column authbridge reads and writes, with
//! types it can decode, and no extra column that an insert could not fill.

use std::collections::HashMap;
use std::fmt;

use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::RunQueryDsl;

use super::migrate::TABLES;
use super::relations::{RELATIONS, RelationReport};
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
            // MySQL: VARCHAR(191), or TEXT where the Prisma schema says @db.Text.
            Kind::Text => {
                matches!(t.as_str(), "text" | "character varying" | "tinytext" | "mediumtext" | "longtext")
                    || t.starts_with("varchar")
            }
            // MySQL reports its fractional digits: DATETIME(0) would drop Prisma's milliseconds.
            Kind::DateTime => matches!(t.as_str(), "timestamp without time zone" | "datetime" | "datetime(3)"),
            Kind::Int => matches!(t.as_str(), "integer" | "int"),
            Kind::Bool => matches!(t.as_str(), "boolean"),
        }
    }

    fn prisma(self) -> &'static str {
        match self {
            Kind::Text => "String (text)",
            Kind::DateTime => "DateTime (timestamp(3) / DATETIME(3) / DATETIME)",
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
    /// The declared length in characters (`VARCHAR(n)`), if any.
    #[diesel(sql_type = Nullable<BigInt>)]
    max_chars: Option<i64>,
    /// The storage limit in bytes (MySQL `TEXT`: 65,535), if any.
    #[diesel(sql_type = Nullable<BigInt>)]
    max_bytes: Option<i64>,
}

/// A value longer than its column allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` is too long: the column holds at most {max} {unit}", field = self.field())]
pub struct TooLong {
    pub table: &'static str,
    pub column: &'static str,
    pub max: u64,
    /// `characters` or `bytes`.
    pub unit: &'static str,
}

impl TooLong {
    /// The path of the field in the request body, e.g. `session.sessionToken` (the wire names
    /// are the column names).
    pub fn field(&self) -> String {
        let entity = match self.table {
            "users" => "user",
            "sessions" => "session",
            "accounts" => "account",
            "verification_tokens" => "verificationToken",
            "authenticators" => "authenticator",
            other => other,
        };
        format!("{entity}.{}", self.column)
    }
}

/// The declared lengths of the string columns, read from the live schema. On the stock Prisma
/// schemas only MySQL has any (`VARCHAR(191)`, and 65,535 bytes for `@db.Text`); a team that
/// narrowed a PostgreSQL column with `@db.VarChar(n)` gets the same check there. A longer value
/// would be an error in the database (or, without strict mode, silently truncated): it is
/// refused up front with a 400 that names the field.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ColumnLimits {
    by_column: HashMap<(String, String), (Option<u64>, Option<u64>)>,
}

impl ColumnLimits {
    pub fn check(&self, table: &'static str, column: &'static str, value: Option<&str>) -> Result<(), TooLong> {
        let (Some(value), Some(&(max_chars, max_bytes))) =
            (value, self.by_column.get(&(table.to_owned(), column.to_owned())))
        else {
            return Ok(());
        };
        // Counted as MySQL counts utf8mb4 (and PostgreSQL counts varchar): in characters.
        if let Some(max) = max_chars.filter(|&max| value.chars().count() as u64 > max) {
            return Err(TooLong { table, column, max, unit: "characters" });
        }
        if let Some(max) = max_bytes.filter(|&max| value.len() as u64 > max) {
            return Err(TooLong { table, column, max, unit: "bytes of UTF-8" });
        }
        Ok(())
    }
}

/// Everything that differs, one readable line each.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub problems: Vec<String>,
    pub limits: ColumnLimits,
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

#[cfg(feature = "postgres")]
const PG_COLUMNS: &str = "SELECT table_name::text AS table_name, column_name::text AS column_name, \
    data_type::text AS data_type, is_nullable = 'YES' AS nullable, column_default IS NOT NULL AS has_default, \
    character_maximum_length::bigint AS max_chars, NULL::bigint AS max_bytes \
    FROM information_schema.columns WHERE table_schema = current_schema() \
    AND table_name IN ('users', 'sessions', 'accounts', 'verification_tokens', 'authenticators')";

#[cfg(feature = "sqlite")]
const SQLITE_COLUMNS: &str = "SELECT m.name AS table_name, c.name AS column_name, c.type AS data_type, \
    c.\"notnull\" = 0 AND c.pk = 0 AS nullable, c.dflt_value IS NOT NULL AS has_default, \
    NULL AS max_chars, NULL AS max_bytes \
    FROM sqlite_master m JOIN pragma_table_info(m.name) c \
    WHERE m.type = 'table' AND m.name IN ('users', 'sessions', 'accounts', 'verification_tokens', 'authenticators')";

/// `BOOLEAN` is `TINYINT(1)` on MySQL, and `DATETIME` shows its fractional digits. MariaDB
/// reports the default of a nullable column as the text `NULL`.
#[cfg(feature = "mysql")]
const MYSQL_COLUMNS: &str = "SELECT CAST(table_name AS CHAR) AS table_name, CAST(column_name AS CHAR) AS column_name, \
    CAST(CASE WHEN column_type = 'tinyint(1)' THEN 'boolean' \
    WHEN data_type = 'datetime' THEN CONCAT('datetime(', datetime_precision, ')') ELSE data_type END AS CHAR) AS data_type, \
    is_nullable = 'YES' AS nullable, column_default IS NOT NULL AS has_default, \
    CAST(CASE WHEN data_type IN ('varchar', 'char') THEN character_maximum_length END AS SIGNED) AS max_chars, \
    CAST(CASE WHEN data_type LIKE '%text' THEN character_octet_length END AS SIGNED) AS max_bytes \
    FROM information_schema.columns WHERE table_schema = DATABASE() \
    AND table_name IN ('users', 'sessions', 'accounts', 'verification_tokens', 'authenticators')";

/// Compares the live catalog with the Prisma schema.
pub async fn check(db: &Db) -> Result<Report, StartError> {
    let live: Vec<LiveColumn> = with_conn!(db, conn => sql_query(match db.pool() {
        #[cfg(feature = "postgres")]
        Pool::Postgres(_) => PG_COLUMNS,
        #[cfg(feature = "mysql")]
        Pool::Mysql(_) => MYSQL_COLUMNS,
        #[cfg(feature = "sqlite")]
        Pool::Sqlite(_) => SQLITE_COLUMNS,
    })
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
    let by_column = live
        .iter()
        .filter(|c| c.max_chars.is_some() || c.max_bytes.is_some())
        .map(|c| {
            let limit = |n: Option<i64>| n.and_then(|n| u64::try_from(n).ok());
            ((c.table_name.clone(), c.column_name.clone()), (limit(c.max_chars), limit(c.max_bytes)))
        })
        .collect();
    Report { problems, limits: ColumnLimits { by_column } }
}

/// One fact about a relation column: `cascade` (a single-column foreign key to `users.id` with
/// ON DELETE CASCADE) or `index` (the column is the first of an index, any kind).
#[derive(QueryableByName, Debug)]
struct RelationFact {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    kind: String,
}

#[cfg(feature = "postgres")]
const PG_RELATION_FACTS: &str = "SELECT c.relname::text AS table_name, a.attname::text AS column_name, 'cascade' AS kind \
    FROM pg_constraint con \
    JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
    JOIN pg_class f ON f.oid = con.confrelid \
    JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1] \
    JOIN pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = con.confkey[1] \
    WHERE con.contype = 'f' AND con.confdeltype = 'c' AND cardinality(con.conkey) = 1 \
    AND n.nspname = current_schema() AND f.relnamespace = n.oid AND f.relname = 'users' AND fa.attname = 'id' \
    AND c.relname IN ('sessions', 'accounts', 'authenticators') \
    UNION ALL SELECT c.relname::text, a.attname::text, 'index' \
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
    WHERE n.nspname = current_schema() AND c.relname IN ('sessions', 'accounts', 'authenticators')";

/// A composite foreign key is not one of ours, hence the `NOT EXISTS` on a second column.
#[cfg(feature = "mysql")]
const MYSQL_RELATION_FACTS: &str = "SELECT CAST(k.table_name AS CHAR) AS table_name, \
    CAST(k.column_name AS CHAR) AS column_name, CAST('cascade' AS CHAR) AS kind \
    FROM information_schema.key_column_usage k JOIN information_schema.referential_constraints r \
    ON r.constraint_schema = k.constraint_schema AND r.constraint_name = k.constraint_name AND r.table_name = k.table_name \
    WHERE k.table_schema = DATABASE() AND k.referenced_table_schema = DATABASE() \
    AND k.referenced_table_name = 'users' AND k.referenced_column_name = 'id' AND r.delete_rule = 'CASCADE' \
    AND k.table_name IN ('sessions', 'accounts', 'authenticators') \
    AND NOT EXISTS (SELECT 1 FROM information_schema.key_column_usage k2 WHERE k2.constraint_schema = k.constraint_schema \
    AND k2.constraint_name = k.constraint_name AND k2.table_name = k.table_name AND k2.ordinal_position > 1) \
    UNION ALL SELECT CAST(table_name AS CHAR), CAST(column_name AS CHAR), CAST('index' AS CHAR) \
    FROM information_schema.statistics WHERE table_schema = DATABASE() AND seq_in_index = 1 \
    AND table_name IN ('sessions', 'accounts', 'authenticators')";

/// A foreign key without a column list (`"to"` NULL) references the primary key, `users.id`.
#[cfg(feature = "sqlite")]
const SQLITE_RELATION_FACTS: &str = "SELECT m.name AS table_name, f.\"from\" AS column_name, 'cascade' AS kind \
    FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f \
    WHERE m.type = 'table' AND m.name IN ('sessions', 'accounts', 'authenticators') \
    AND f.\"table\" = 'users' AND coalesce(f.\"to\", 'id') = 'id' AND f.on_delete = 'CASCADE' \
    AND (SELECT count(*) FROM pragma_foreign_key_list(m.name) g WHERE g.id = f.id) = 1 \
    UNION ALL SELECT m.name, x.name, 'index' \
    FROM sqlite_master m JOIN pragma_index_list(m.name) i JOIN pragma_index_info(i.name) x \
    WHERE m.type = 'table' AND m.name IN ('sessions', 'accounts', 'authenticators') AND x.seqno = 0";

/// Reads which relations have a cascading foreign key and an index (see [`RelationReport`]).
pub async fn relations(db: &Db) -> Result<RelationReport, StartError> {
    let facts: Vec<RelationFact> = with_conn!(db, conn => sql_query(match db.pool() {
        #[cfg(feature = "postgres")]
        Pool::Postgres(_) => PG_RELATION_FACTS,
        #[cfg(feature = "mysql")]
        Pool::Mysql(_) => MYSQL_RELATION_FACTS,
        #[cfg(feature = "sqlite")]
        Pool::Sqlite(_) => SQLITE_RELATION_FACTS,
    })
    .load(conn)
    .await)
    .map_err(StartError::from)?;
    let has = |relation: &super::relations::Relation, kind: &str| {
        facts.iter().any(|f| f.table_name == relation.table && f.column_name == relation.column && f.kind == kind)
    };
    Ok(RelationReport {
        without_cascade: RELATIONS.iter().filter(|r| !has(r, "cascade")).copied().collect(),
        without_index: RELATIONS.iter().filter(|r| !has(r, "index")).copied().collect(),
    })
}
