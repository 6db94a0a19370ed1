//! Verifies that the live schema has every table and column authbridge reads and writes, with
//! types it can decode, and no extra column that an insert could not fill.

use std::collections::HashSet;
use std::fmt;

use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::RunQueryDsl;

use super::relations::{RELATIONS, Relation, RelationReport};
use super::tables::{ColumnLimits, Limit, TABLES, Table, USER_ID, USERS, sql_list, with_user};
use super::{Db, Pool, StartError, with_conn};

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

/// Everything that differs, one readable line each.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub problems: Vec<String>,
    pub limits: ColumnLimits,
    /// The optional columns the schema has, as (table, column).
    pub optional_present: HashSet<(&'static str, &'static str)>,
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

/// The catalog's columns of the described tables, on the pool's backend.
fn columns_sql(db: &Db) -> String {
    let tables = sql_list(TABLES);
    match db.pool() {
        #[cfg(feature = "postgres")]
        Pool::Postgres(_) => format!(
            "SELECT table_name::text AS table_name, column_name::text AS column_name, \
             data_type::text AS data_type, is_nullable = 'YES' AS nullable, column_default IS NOT NULL AS has_default, \
             character_maximum_length::bigint AS max_chars, NULL::bigint AS max_bytes \
             FROM information_schema.columns WHERE table_schema = current_schema() AND table_name IN ({tables})"
        ),
        // `BOOLEAN` is `TINYINT(1)` on MySQL, and `DATETIME` shows its fractional digits. MariaDB
        // reports the default of a nullable column as the text `NULL`.
        #[cfg(feature = "mysql")]
        Pool::Mysql(_) => format!(
            "SELECT CAST(table_name AS CHAR) AS table_name, CAST(column_name AS CHAR) AS column_name, \
             CAST(CASE WHEN column_type = 'tinyint(1)' THEN 'boolean' \
             WHEN data_type = 'datetime' THEN CONCAT('datetime(', datetime_precision, ')') ELSE data_type END AS CHAR) AS data_type, \
             is_nullable = 'YES' AS nullable, column_default IS NOT NULL AS has_default, \
             CAST(CASE WHEN data_type IN ('varchar', 'char') THEN character_maximum_length END AS SIGNED) AS max_chars, \
             CAST(CASE WHEN data_type LIKE '%text' THEN character_octet_length END AS SIGNED) AS max_bytes \
             FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name IN ({tables})"
        ),
        #[cfg(feature = "sqlite")]
        Pool::Sqlite(_) => format!(
            "SELECT m.name AS table_name, c.name AS column_name, c.type AS data_type, \
             c.\"notnull\" = 0 AND c.pk = 0 AS nullable, c.dflt_value IS NOT NULL AS has_default, \
             NULL AS max_chars, NULL AS max_bytes \
             FROM sqlite_master m JOIN pragma_table_info(m.name) c \
             WHERE m.type = 'table' AND m.name IN ({tables})"
        ),
    }
}

/// Compares the live catalog with the Prisma schema.
pub async fn check(db: &Db) -> Result<Report, StartError> {
    let sql = columns_sql(db);
    let live: Vec<LiveColumn> = with_conn!(db, conn => sql_query(&sql).load(conn).await).map_err(StartError::from)?;
    Ok(compare(&TABLES, &live))
}

fn compare(tables: &[&'static Table], live: &[LiveColumn]) -> Report {
    let mut problems = Vec::new();
    let present = |table: &Table| live.iter().any(|c| c.table_name == table.name);
    for table in tables.iter().filter(|t| !present(t)) {
        problems.push(format!("missing table `{}`", table.name));
    }
    let mut limits = std::collections::HashMap::new();
    let mut optional_present = HashSet::new();
    for table in tables.iter().copied().filter(|t| present(t)) {
        let name = table.name;
        for expected in table.columns {
            let column = expected.name;
            let Some(found) = live.iter().find(|c| c.table_name == name && c.column_name == column) else {
                if !expected.optional {
                    problems.push(format!("missing column `{name}`.`{column}` ({})", expected.kind.prisma()));
                }
                continue;
            };
            if expected.optional {
                optional_present.insert((name, column));
            }
            if !expected.kind.accepts(&found.data_type) {
                problems.push(format!(
                    "column `{name}`.`{column}` has type {}, expected {}",
                    found.data_type,
                    expected.kind.prisma()
                ));
            }
            if found.nullable && !expected.nullable {
                problems.push(format!("column `{name}`.`{column}` is nullable, expected NOT NULL"));
            }
            let limit = |n: Option<i64>| n.and_then(|n| u64::try_from(n).ok());
            let limit = Limit { max_chars: limit(found.max_chars), max_bytes: limit(found.max_bytes) };
            if limit != Limit::default() {
                limits.insert((name, column), limit);
            }
        }
    }
    let described = |c: &LiveColumn| {
        tables.iter().any(|t| t.name == c.table_name && t.columns.iter().any(|e| e.name == c.column_name))
    };
    for extra in live.iter().filter(|c| !described(c)) {
        if !extra.nullable && !extra.has_default {
            problems.push(format!(
                "extra column `{}`.`{}` is NOT NULL without a default: authbridge cannot insert rows into `{}`",
                extra.table_name, extra.column_name, extra.table_name
            ));
        }
    }
    Report { problems, limits: ColumnLimits::new(limits), optional_present }
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

/// The catalog's facts about the relation columns (see [`RelationFact`]), on the pool's backend.
fn relation_facts_sql(db: &Db) -> String {
    let (related, users, id) = (sql_list(with_user()), USERS.name, USER_ID);
    match db.pool() {
        #[cfg(feature = "postgres")]
        Pool::Postgres(_) => format!(
            "SELECT c.relname::text AS table_name, a.attname::text AS column_name, 'cascade' AS kind \
             FROM pg_constraint con \
             JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_class f ON f.oid = con.confrelid \
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1] \
             JOIN pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = con.confkey[1] \
             WHERE con.contype = 'f' AND con.confdeltype = 'c' AND cardinality(con.conkey) = 1 \
             AND n.nspname = current_schema() AND f.relnamespace = n.oid AND f.relname = '{users}' AND fa.attname = '{id}' \
             AND c.relname IN ({related}) \
             UNION ALL SELECT c.relname::text, a.attname::text, 'index' \
             FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
             WHERE n.nspname = current_schema() AND c.relname IN ({related})"
        ),
        // A composite foreign key is not one of ours, hence the `NOT EXISTS` on a second column.
        #[cfg(feature = "mysql")]
        Pool::Mysql(_) => format!(
            "SELECT CAST(k.table_name AS CHAR) AS table_name, \
             CAST(k.column_name AS CHAR) AS column_name, CAST('cascade' AS CHAR) AS kind \
             FROM information_schema.key_column_usage k JOIN information_schema.referential_constraints r \
             ON r.constraint_schema = k.constraint_schema AND r.constraint_name = k.constraint_name AND r.table_name = k.table_name \
             WHERE k.table_schema = DATABASE() AND k.referenced_table_schema = DATABASE() \
             AND k.referenced_table_name = '{users}' AND k.referenced_column_name = '{id}' AND r.delete_rule = 'CASCADE' \
             AND k.table_name IN ({related}) \
             AND NOT EXISTS (SELECT 1 FROM information_schema.key_column_usage k2 WHERE k2.constraint_schema = k.constraint_schema \
             AND k2.constraint_name = k.constraint_name AND k2.table_name = k.table_name AND k2.ordinal_position > 1) \
             UNION ALL SELECT CAST(table_name AS CHAR), CAST(column_name AS CHAR), CAST('index' AS CHAR) \
             FROM information_schema.statistics WHERE table_schema = DATABASE() AND seq_in_index = 1 \
             AND table_name IN ({related})"
        ),
        // A foreign key without a column list (`"to"` NULL) references the primary key, `users.id`.
        #[cfg(feature = "sqlite")]
        Pool::Sqlite(_) => format!(
            "SELECT m.name AS table_name, f.\"from\" AS column_name, 'cascade' AS kind \
             FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f \
             WHERE m.type = 'table' AND m.name IN ({related}) \
             AND f.\"table\" = '{users}' AND coalesce(f.\"to\", '{id}') = '{id}' AND f.on_delete = 'CASCADE' \
             AND (SELECT count(*) FROM pragma_foreign_key_list(m.name) g WHERE g.id = f.id) = 1 \
             UNION ALL SELECT m.name, x.name, 'index' \
             FROM sqlite_master m JOIN pragma_index_list(m.name) i JOIN pragma_index_info(i.name) x \
             WHERE m.type = 'table' AND m.name IN ({related}) AND x.seqno = 0"
        ),
    }
}

/// Reads which relations have a cascading foreign key and an index (see [`RelationReport`]).
pub async fn relations(db: &Db) -> Result<RelationReport, StartError> {
    let sql = relation_facts_sql(db);
    let facts: Vec<RelationFact> =
        with_conn!(db, conn => sql_query(&sql).load(conn).await).map_err(StartError::from)?;
    let has = |relation: &Relation, kind: &str| {
        facts.iter().any(|f| f.table_name == relation.table && f.column_name == relation.column && f.kind == kind)
    };
    Ok(RelationReport {
        without_cascade: RELATIONS.iter().filter(|r| !has(r, "cascade")).copied().collect(),
        without_index: RELATIONS.iter().filter(|r| !has(r, "index")).copied().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::tables::{Column, Kind};

    fn live(table: &str, column: &str, data_type: &str, nullable: bool, max_chars: Option<i64>) -> LiveColumn {
        LiveColumn {
            table_name: table.into(),
            column_name: column.into(),
            data_type: data_type.into(),
            nullable,
            has_default: false,
            max_chars,
            max_bytes: None,
        }
    }

    const NOTES: Table = Table {
        name: "notes",
        entity: "note",
        columns: &[
            Column { name: "id", kind: Kind::Text, nullable: false, optional: false },
            Column { name: "body", kind: Kind::Text, nullable: true, optional: false },
            Column { name: "seenAt", kind: Kind::DateTime, nullable: true, optional: true },
        ],
        user_column: None,
        expires: None,
    };

    #[test]
    fn only_required_columns_are_missed_and_only_described_ones_get_limits() {
        let report = compare(
            &[&NOTES],
            &[live("notes", "id", "varchar(20)", false, Some(20)), live("notes", "extra", "text", false, Some(5))],
        );
        assert_eq!(report.problems.len(), 2, "{report}");
        assert!(report.problems[0].starts_with("missing column `notes`.`body`"), "{report}");
        assert!(report.problems[1].starts_with("extra column `notes`.`extra` is NOT NULL"), "{report}");
        assert!(report.limits.check(&NOTES, "id", Some(&"x".repeat(21))).is_err());
        assert!(report.limits.check(&NOTES, "extra", Some(&"x".repeat(21))).is_ok());

        let complete =
            compare(&[&NOTES], &[live("notes", "id", "text", false, None), live("notes", "body", "text", true, None)]);
        assert!(complete.is_ok(), "the optional column may be absent: {complete}");
        let problems = compare(&[&NOTES], &[live("notes", "id", "integer", true, None)]).problems;
        assert!(problems.iter().any(|p| p.contains("has type integer, expected String")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("`notes`.`id` is nullable")), "{problems:?}");
    }
}
