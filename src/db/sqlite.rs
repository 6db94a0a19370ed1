//! SQLite, the embedded default: what every connection is set up with.

/// The pragmas every connection gets. Cascades depend on `foreign_keys`, which SQLite turns off
/// per connection; WAL lets readers run while one writer writes.
pub fn setup_sql(busy_timeout_ms: u128) -> String {
    format!("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {busy_timeout_ms}; PRAGMA journal_mode = WAL;")
}
