//! The five Auth.js tables as authbridge needs them, described once: the migration ownership
//! rule, the schema check, the column lengths, the relations to users, the purge and the metrics
//! labels all read [`TABLES`].
//!
//! Column names, types and nullability come from diesel's `table!` declarations in
//! [`super::schema`] (`Column::NAME` and each column's SQL type). Table names are written here:
//! diesel keeps them only in its `internal` module, which promises no stability; a unit test
//! checks them, and each table's column list, against the SQL diesel generates.

use std::collections::HashMap;

use diesel::sql_types::{Bool, Integer, Nullable, Text, Timestamp};
use diesel::{Column as DieselColumn, Expression};

use super::schema::{accounts, authenticators, sessions, users, verification_tokens};

/// The Prisma type of a column, as far as authbridge reads and writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    DateTime,
    Int,
    Bool,
}

impl Kind {
    /// Whether a column the catalog reports as `backend_type` decodes as this kind.
    pub fn accepts(self, backend_type: &str) -> bool {
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

    /// The type as a Prisma schema author knows it.
    pub fn prisma(self) -> &'static str {
        match self {
            Kind::Text => "String (text)",
            Kind::DateTime => "DateTime (timestamp(3) / DATETIME(3) / DATETIME)",
            Kind::Int => "Int (integer)",
            Kind::Bool => "Boolean",
        }
    }
}

/// What a diesel SQL type says about a column.
pub trait Typed {
    const KIND: Kind;
    const NULLABLE: bool;
}

impl Typed for Text {
    const KIND: Kind = Kind::Text;
    const NULLABLE: bool = false;
}

impl Typed for Timestamp {
    const KIND: Kind = Kind::DateTime;
    const NULLABLE: bool = false;
}

impl Typed for Integer {
    const KIND: Kind = Kind::Int;
    const NULLABLE: bool = false;
}

impl Typed for Bool {
    const KIND: Kind = Kind::Bool;
    const NULLABLE: bool = false;
}

impl<T: Typed> Typed for Nullable<T> {
    const KIND: Kind = T::KIND;
    const NULLABLE: bool = true;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub nullable: bool,
    /// A column that only some schemas have: authbridge detects it at start-up and writes it
    /// only where it exists, so the schema check does not require it.
    pub optional: bool,
}

impl Column {
    /// The column as diesel's `table!` declares it.
    pub const fn of<C>() -> Self
    where
        C: DieselColumn,
        <C as Expression>::SqlType: Typed,
    {
        Self {
            name: C::NAME,
            kind: <<C as Expression>::SqlType as Typed>::KIND,
            nullable: <<C as Expression>::SqlType as Typed>::NULLABLE,
            optional: false,
        }
    }

    /// A column the schema may lack (see [`Column::optional`](Self::optional)).
    pub const fn optional<C>() -> Self
    where
        C: DieselColumn,
        <C as Expression>::SqlType: Typed,
    {
        Self { optional: true, ..Self::of::<C>() }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct Table {
    pub name: &'static str,
    /// The object that carries the table's fields in a request body (`{"session": {...}}`): the
    /// first part of a field path such as `session.sessionToken`.
    pub entity: &'static str,
    /// In diesel's order (that of `prisma/schema.prisma`).
    pub columns: &'static [Column],
    /// The column that points at [`USER_ID`], for tables whose rows belong to a user.
    pub user_column: Option<&'static str>,
    /// The column after which a row is expired, for tables the purge deletes from.
    pub expires: Option<&'static str>,
}

pub const USERS: Table = Table {
    name: "users",
    entity: "user",
    columns: &[
        Column::of::<users::id>(),
        Column::of::<users::name>(),
        Column::of::<users::email>(),
        Column::of::<users::email_verified>(),
        Column::of::<users::image>(),
    ],
    user_column: None,
    expires: None,
};

/// The column every relation points at.
pub const USER_ID: &str = users::id::NAME;

pub const SESSIONS: Table = Table {
    name: "sessions",
    entity: "session",
    columns: &[
        Column::of::<sessions::id>(),
        Column::of::<sessions::session_token>(),
        Column::of::<sessions::user_id>(),
        Column::of::<sessions::expires>(),
        // Device metadata (the names Better Auth uses): authbridge fills the ones that exist.
        Column::optional::<sessions::created_at>(),
        Column::optional::<sessions::ip_address>(),
        Column::optional::<sessions::updated_at>(),
        Column::optional::<sessions::user_agent>(),
        // Rotation's grace window and reuse detection: used only when both exist.
        Column::optional::<sessions::previous_session_token>(),
        Column::optional::<sessions::rotated_at>(),
    ],
    user_column: Some(sessions::user_id::NAME),
    expires: Some(sessions::expires::NAME),
};

pub const ACCOUNTS: Table = Table {
    name: "accounts",
    entity: "account",
    columns: &[
        Column::of::<accounts::id>(),
        Column::of::<accounts::user_id>(),
        Column::of::<accounts::type_>(),
        Column::of::<accounts::provider>(),
        Column::of::<accounts::provider_account_id>(),
        Column::of::<accounts::refresh_token>(),
        Column::of::<accounts::access_token>(),
        Column::of::<accounts::expires_at>(),
        Column::of::<accounts::token_type>(),
        Column::of::<accounts::scope>(),
        Column::of::<accounts::id_token>(),
        Column::of::<accounts::session_state>(),
    ],
    user_column: Some(accounts::user_id::NAME),
    expires: None,
};

pub const VERIFICATION_TOKENS: Table = Table {
    name: "verification_tokens",
    entity: "verificationToken",
    columns: &[
        Column::of::<verification_tokens::identifier>(),
        Column::of::<verification_tokens::token>(),
        Column::of::<verification_tokens::expires>(),
    ],
    user_column: None,
    expires: Some(verification_tokens::expires::NAME),
};

pub const AUTHENTICATORS: Table = Table {
    name: "authenticators",
    entity: "authenticator",
    columns: &[
        Column::of::<authenticators::credential_id>(),
        Column::of::<authenticators::user_id>(),
        Column::of::<authenticators::provider_account_id>(),
        Column::of::<authenticators::credential_public_key>(),
        Column::of::<authenticators::counter>(),
        Column::of::<authenticators::credential_device_type>(),
        Column::of::<authenticators::credential_backed_up>(),
        Column::of::<authenticators::transports>(),
    ],
    user_column: Some(authenticators::user_id::NAME),
    expires: None,
};

/// Every table of the Auth.js schema.
pub const TABLES: [&Table; 5] = [&USERS, &SESSIONS, &ACCOUNTS, &VERIFICATION_TOKENS, &AUTHENTICATORS];

/// The names of `tables` as an SQL list for `IN (...)`: `'users', 'sessions'`. The names are the
/// constants above, never input.
pub fn sql_list<'a>(tables: impl IntoIterator<Item = &'a Table>) -> String {
    tables.into_iter().map(|t| format!("'{}'", t.name)).collect::<Vec<_>>().join(", ")
}

/// The tables whose rows point at a user.
pub fn with_user() -> impl Iterator<Item = &'static Table> {
    TABLES.into_iter().filter(|t| t.user_column.is_some())
}

/// The tables the purge deletes expired rows from.
pub fn purged() -> impl Iterator<Item = &'static Table> {
    TABLES.into_iter().filter(|t| t.expires.is_some())
}

/// A value longer than its column allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` is too long: the column holds at most {max} {unit}", field = self.field())]
pub struct TooLong {
    pub table: &'static Table,
    pub column: &'static str,
    pub max: u64,
    /// `characters` or `bytes`.
    pub unit: &'static str,
}

impl TooLong {
    /// The path of the field in the request body, e.g. `session.sessionToken` (the wire names
    /// are the column names).
    pub fn field(&self) -> String {
        format!("{}.{}", self.table.entity, self.column)
    }
}

/// The declared lengths of the string columns, read from the live schema by the schema check. On
/// the stock Prisma schemas only MySQL has any (`VARCHAR(191)`, and 65,535 bytes for `@db.Text`);
/// a team that narrowed a PostgreSQL column with `@db.VarChar(n)` gets the same check there. A
/// longer value would be an error in the database (or, without strict mode, silently truncated):
/// it is refused up front with a 400 that names the field.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ColumnLimits {
    /// By table and column name; only described columns (the ones authbridge writes).
    by_column: HashMap<(&'static str, &'static str), Limit>,
}

/// Characters (`VARCHAR(n)`) and bytes (MySQL `TEXT`), either may be absent.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max_chars: Option<u64>,
    pub max_bytes: Option<u64>,
}

impl ColumnLimits {
    pub fn new(by_column: HashMap<(&'static str, &'static str), Limit>) -> Self {
        Self { by_column }
    }

    pub fn check(&self, table: &'static Table, column: &'static str, value: Option<&str>) -> Result<(), TooLong> {
        let (Some(value), Some(limit)) = (value, self.by_column.get(&(table.name, column))) else {
            return Ok(());
        };
        // Counted as MySQL counts utf8mb4 (and PostgreSQL counts varchar): in characters.
        if let Some(max) = limit.max_chars.filter(|&max| value.chars().count() as u64 > max) {
            return Err(TooLong { table, column, max, unit: "characters" });
        }
        if let Some(max) = limit.max_bytes.filter(|&max| value.len() as u64 > max) {
            return Err(TooLong { table, column, max, unit: "bytes of UTF-8" });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names and columns written here are diesel's: `SELECT *` of each table lists them.
    #[cfg(feature = "sqlite")]
    #[test]
    fn the_description_is_what_diesel_declares() {
        use diesel::query_builder::AsQuery;
        use diesel::sqlite::Sqlite;

        fn select_all<T: AsQuery>(table: T) -> String
        where
            T::Query: diesel::query_builder::QueryFragment<Sqlite>,
        {
            diesel::debug_query::<Sqlite, _>(&table.as_query()).to_string()
        }
        let generated = [
            select_all(users::table),
            select_all(sessions::table),
            select_all(accounts::table),
            select_all(verification_tokens::table),
            select_all(authenticators::table),
        ];
        for (table, sql) in TABLES.iter().zip(generated) {
            let columns: Vec<String> = table.columns.iter().map(|c| format!("`{}`.`{}`", table.name, c.name)).collect();
            let described = format!("SELECT {} FROM `{}` -- binds: []", columns.join(", "), table.name);
            assert_eq!(sql, described);
        }
    }

    #[test]
    fn kinds_and_nullability_come_from_the_sql_types() {
        assert_eq!(
            SESSIONS.columns[3],
            Column { name: "expires", kind: Kind::DateTime, nullable: false, optional: false }
        );
        assert_eq!(
            ACCOUNTS.columns[7],
            Column { name: "expires_at", kind: Kind::Int, nullable: true, optional: false }
        );
        assert_eq!(AUTHENTICATORS.columns[6].kind, Kind::Bool);
    }

    #[test]
    fn a_too_long_value_is_named_by_its_wire_path() {
        let limits = ColumnLimits::new(HashMap::from([(
            (SESSIONS.name, "sessionToken"),
            Limit { max_chars: Some(3), max_bytes: Some(5) },
        )]));
        assert_eq!(limits.check(&SESSIONS, "sessionToken", Some("abc")), Ok(()));
        assert_eq!(limits.check(&SESSIONS, "userId", Some("abcdef")), Ok(()));
        let error = limits.check(&SESSIONS, "sessionToken", Some("abcd")).unwrap_err();
        assert_eq!(error.field(), "session.sessionToken");
        assert_eq!(error.unit, "characters");
        assert_eq!(limits.check(&SESSIONS, "sessionToken", Some("ééé")).unwrap_err().unit, "bytes of UTF-8");
    }

    #[test]
    fn purge_and_relations_read_the_description() {
        let names = |tables: &mut dyn Iterator<Item = &Table>| tables.map(|t| t.name).collect::<Vec<_>>();
        assert_eq!(names(&mut purged()), ["sessions", "verification_tokens"]);
        assert_eq!(names(&mut with_user()), ["sessions", "accounts", "authenticators"]);
        assert_eq!(sql_list(with_user()), "'sessions', 'accounts', 'authenticators'");
    }
}
