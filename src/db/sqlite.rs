//! SQLite, the embedded default: what every connection is set up with, and the readers that
//! answer the session read on the request's own thread.

use std::sync::{Arc, Mutex, TryLockError};

use diesel::connection::{Instrumentation, SimpleConnection};
use diesel::result::Error as DieselError;
use diesel::{Connection, QueryResult, SqliteConnection};

use super::SQLITE_LOCKED;

/// The pragmas every pooled connection gets. Cascades depend on `foreign_keys`, which SQLite turns
/// off per connection; WAL lets readers run while one writer writes.
pub fn setup_sql(busy_timeout_ms: u128) -> String {
    format!("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {busy_timeout_ms}; PRAGMA journal_mode = WAL;")
}

/// A reader never writes, and never waits for a lock on the thread it borrows: a read that would
/// wait fails at once with [`SQLITE_LOCKED`] and goes to the pool, whose connections wait on blocking
/// threads. (In WAL mode readers do not wait for the writer, so that is rare.)
const READER_SETUP: &str = "PRAGMA query_only = ON; PRAGMA busy_timeout = 0;";

type MakeInstrumentation = Arc<dyn Fn() -> Box<dyn Instrumentation> + Send + Sync>;

/// A few read-only connections, each used synchronously on the thread that asks for it.
///
/// The pool's connections run every statement through diesel-async's `SyncConnectionWrapper`: a
/// hop to a tokio blocking thread and a wake-up back, a deadpool checkout and an owned copy of each
/// row. For a one-row lookup by a unique index that costs several times the lookup itself
/// (bench/TUNING.md, "SQLite: readers on the request's thread"). A reader runs the statement where
/// the request already is, with its prepared statement kept, and blocks that runtime thread for
/// the few microseconds the lookup takes. There is one per runtime worker thread, so a worker
/// always finds one free; when none is (another thread holds them all), or one cannot be opened,
/// the caller uses the pool instead.
pub struct Readers {
    path: String,
    slots: Box<[Mutex<Option<SqliteConnection>>]>,
    instrumentation: Mutex<Option<MakeInstrumentation>>,
}

impl Readers {
    /// The readers of the database at `path` (as given to the pool), opened on first use: as many
    /// as tokio's default runtime has worker threads, one per core.
    pub fn new(path: String) -> Self {
        let count = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let slots = (0..count).map(|_| Mutex::new(None)).collect();
        Self { path, slots, instrumentation: Mutex::new(None) }
    }

    /// Runs `read` on a free reader. `None` when there is none, when one cannot be opened, or when
    /// the read found the database locked: the caller then runs the same read through the pool.
    pub fn run<T>(&self, read: impl FnOnce(&mut SqliteConnection) -> QueryResult<T>) -> Option<QueryResult<T>> {
        for slot in &self.slots {
            let mut guard = match slot.try_lock() {
                Ok(guard) => guard,
                Err(TryLockError::WouldBlock) => continue,
                // A read panicked with it: the connection may be mid-statement, so open a new one.
                Err(TryLockError::Poisoned(poisoned)) => {
                    slot.clear_poison();
                    let mut guard = poisoned.into_inner();
                    *guard = None;
                    guard
                }
            };
            if guard.is_none() {
                *guard = Some(self.open().inspect_err(|e| tracing::debug!("cannot open a SQLite reader: {e}")).ok()?);
            }
            let result = read(guard.as_mut()?);
            return match result {
                Err(DieselError::DatabaseError(_, info)) if info.message().contains(SQLITE_LOCKED) => None,
                result => Some(result),
            };
        }
        None
    }

    fn open(&self) -> QueryResult<SqliteConnection> {
        let mut conn = SqliteConnection::establish(&self.path)
            .map_err(|e| DieselError::QueryBuilderError(format!("opening the database: {e}").into()))?;
        conn.batch_execute(READER_SETUP)?;
        if let Some(make) = &*self.instrumentation.lock().unwrap_or_else(|p| p.into_inner()) {
            conn.set_instrumentation(make());
        }
        Ok(conn)
    }

    /// Gives every reader, open or opened later, the instrumentation `make` builds (the statement
    /// log of the hot-path tests).
    pub fn set_instrumentation(&self, make: impl Fn() -> Box<dyn Instrumentation> + Send + Sync + 'static) {
        let make: MakeInstrumentation = Arc::new(make);
        // Stored first: a reader opened meanwhile takes it; one already open gets it below.
        *self.instrumentation.lock().unwrap_or_else(|p| p.into_inner()) = Some(make.clone());
        for slot in &self.slots {
            if let Some(conn) = slot.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
                conn.set_instrumentation(make());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;

    /// `.cargo/config.toml` builds the bundled SQLite with the query planner stability guarantee;
    /// without it every `.first()` is parsed and planned again on each run (see there).
    #[test]
    fn sqlite_is_built_with_the_planner_stability_guarantee() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        let built_with = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
            "EXISTS (SELECT 1 FROM pragma_compile_options WHERE compile_options = 'ENABLE_QPSG')",
        ))
        .get_result::<bool>(&mut conn);
        assert_eq!(built_with, Ok(true));
    }
}
