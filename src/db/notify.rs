//! The session cache's notifications (see `crate::cache`), sent inside the transaction of the
//! write they announce: PostgreSQL delivers a `NOTIFY` when, and only when, its transaction
//! commits, so a write that rolls back announces nothing and a committed one cannot lose its
//! announcement to a request cancelled after the commit.
//!
//! Only when [`super::Db::notifies`] (the cache is on, on PostgreSQL): with the cache off no
//! statement is added. Payloads carry ids only (`s:<session id>`, `u:<user id>`, `*`), never a
//! token; the cache parses them with the prefixes below.
//!
//! Where the write is one `... RETURNING` statement, [`returning_announced!`] runs it and a
//! `SELECT pg_notify` in one transaction (`BEGIN`, the write, the notify, `COMMIT`) rather than
//! folding `pg_notify` into the statement as a CTE: the statements stay the diesel DSL they are
//! with the cache off, and the payload is built once, in Rust, from the row returned.

use std::future::Future;

use diesel::QueryResult;

/// The `LISTEN` / `NOTIFY` channel of every instance on one database.
pub const CHANNEL: &str = "authbridge_session_cache";
/// Payload prefix naming one session by id.
pub const SESSION_PREFIX: &str = "s:";
/// Payload prefix naming every session of one user by the user's id.
pub const USER_PREFIX: &str = "u:";
/// Payload naming everything.
pub const ALL: &str = "*";

pub fn session(id: &str) -> String {
    format!("{SESSION_PREFIX}{id}")
}

pub fn user(id: &str) -> String {
    format!("{USER_PREFIX}{id}")
}

/// A row whose write invalidates cached sessions: what its notification says.
pub trait Announced {
    fn payload(&self) -> String;
}

/// `NOTIFY` on [`CHANNEL`] in the connection's current transaction.
pub trait NotifyConnection {
    fn notify(&mut self, payload: &str) -> impl Future<Output = QueryResult<()>> + Send;
}

#[cfg(feature = "postgres")]
impl NotifyConnection for diesel_async::AsyncPgConnection {
    async fn notify(&mut self, payload: &str) -> QueryResult<()> {
        use diesel::sql_types::Text;
        use diesel_async::RunQueryDsl;
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<Text, _>(CHANNEL)
            .bind::<Text, _>(payload)
            .execute(self)
            .await
            .map(|_| ())
    }
}

/// MySQL has no notification channel: [`super::Db::notifies`] is false there, so this is never
/// reached; it exists because the write bodies are written once for every backend.
#[cfg(feature = "mysql")]
impl NotifyConnection for diesel_async::AsyncMysqlConnection {
    async fn notify(&mut self, _payload: &str) -> QueryResult<()> {
        Ok(())
    }
}

/// SQLite has no notification channel: as for MySQL.
#[cfg(feature = "sqlite")]
impl NotifyConnection for super::SqliteConn {
    async fn notify(&mut self, _payload: &str) -> QueryResult<()> {
        Ok(())
    }
}

/// Runs `$write` (a `... RETURNING` statement, built anew where it is used twice) on `$conn`
/// and evaluates to its row, if any, once committed. When `$db` notifies, the row's
/// [`Announced::payload`] is sent in the same transaction; otherwise the write stays the single
/// statement it is with the cache off (see [`super::GetCommitted`]). `plain` is that statement
/// alone, for the rows no cached answer holds.
macro_rules! returning_announced {
    ($db:expr, $conn:ident, $write:expr, plain) => {{
        use $crate::db::GetCommitted as _;
        $write.get_committed($conn).await.optional()
    }};
    ($db:expr, $conn:ident, $write:expr, announced) => {
        if $db.notifies() {
            diesel_async::AsyncConnection::transaction($conn, async |$conn| {
                let row = $write.get_result($conn).await.optional()?;
                if let Some(row) = &row {
                    let payload = $crate::db::notify::Announced::payload(row);
                    $crate::db::notify::NotifyConnection::notify(&mut *$conn, &payload).await?;
                }
                Ok::<_, diesel::result::Error>(row)
            })
            .await
        } else {
            use $crate::db::GetCommitted as _;
            $write.get_committed($conn).await.optional()
        }
    };
}
pub(crate) use returning_announced;
