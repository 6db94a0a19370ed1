//! Deleting expired sessions and verification tokens: on request, from the command line and in
//! the background every `--purge-interval`.
//!
//! Rows go in batches of `--purge-batch-size`, one short statement each, so that millions of
//! expired rows never hold a long lock or a long transaction. The cutoff is fixed when a run
//! starts, so a run ends even while sessions keep expiring. On PostgreSQL each batch skips rows
//! another instance's purge has locked, so several instances can purge at once; on MySQL a
//! second instance's batch waits for the first one's (MySQL's `DELETE` cannot skip locked rows).

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Timestamp};
use diesel_async::RunQueryDsl;
use serde::Serialize;
use tokio::task::JoinHandle;

use crate::audit::{Action, Actor, Subject};
use crate::db::notify::{self, NotifyConnection as _};
use crate::db::tables::{SESSIONS, Table, VERIFICATION_TOKENS};
use crate::db::{Db, DbResult, DbTime, Pool, with_conn};

/// The metric counting purged rows, labelled `table`.
pub const PURGED_ROWS_METRIC: &str = "authbridge_purged_rows_total";

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Purged {
    pub sessions_deleted: u64,
    pub verification_tokens_deleted: u64,
}

/// The statement that deletes at most `$2` rows of `table` that expired at `$1`.
fn batch_sql(db: &Db, table: &Table) -> String {
    let name = table.name;
    let expires = table.expires.unwrap_or_else(|| unreachable!("the purge takes only tables with an expiry"));
    match db.pool() {
        // Rows are picked by physical id: `verification_tokens` has a two-column key, and this
        // keeps one statement shape for both tables.
        #[cfg(feature = "postgres")]
        Pool::Postgres(_) => format!(
            "DELETE FROM {name} WHERE ctid = ANY(ARRAY(\
             SELECT ctid FROM {name} WHERE {expires} <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED))"
        ),
        // MySQL deletes with `LIMIT` directly. Sessions go in `expires` order, which walks the
        // `sessions_expires_idx` range instead of sorting; `verification_tokens` has no such index.
        #[cfg(feature = "mysql")]
        Pool::Mysql(_) => {
            let order = if *table == SESSIONS { format!("ORDER BY {expires} ") } else { String::new() };
            format!("DELETE FROM {name} WHERE {expires} <= ? {order}LIMIT ?")
        }
        #[cfg(feature = "sqlite")]
        Pool::Sqlite(_) => {
            format!("DELETE FROM {name} WHERE rowid IN (SELECT rowid FROM {name} WHERE {expires} <= ? LIMIT ?)")
        }
    }
}

/// Deletes at most `batch` expired rows of `table` in one statement (its own transaction). With
/// `announce`, a batch that deletes rows also sends the session cache's `*` in its transaction
/// (see [`crate::db::notify`]).
async fn delete_batch(db: &Db, table: &Table, cutoff: DbTime, batch: i64, announce: bool) -> DbResult<usize> {
    let sql = batch_sql(db, table);
    let query = || diesel::sql_query(&sql).bind::<Timestamp, _>(cutoff).bind::<BigInt, _>(batch);
    with_conn!(db, conn => {
        if announce {
            diesel_async::AsyncConnection::transaction(conn, async |conn| {
                let deleted = query().execute(conn).await?;
                if deleted > 0 {
                    conn.notify(notify::ALL).await?;
                }
                Ok::<_, diesel::result::Error>(deleted)
            })
            .await
        } else {
            query().execute(conn).await
        }
    })
}

/// Purges `table` batch by batch. With `announce`, the first batch that deletes rows sends the
/// cache's notification: one is enough, and only expired rows go, which no cache serves.
async fn purge_table(
    db: &Db,
    table: &'static Table,
    cutoff: DbTime,
    batch_size: NonZeroU32,
    mut announce: bool,
) -> DbResult<u64> {
    let batch = u64::from(batch_size.get());
    let mut total = 0;
    loop {
        let deleted = delete_batch(db, table, cutoff, batch as i64, announce).await? as u64;
        announce &= deleted == 0;
        total += deleted;
        metrics::counter!(PURGED_ROWS_METRIC, "table" => table.name).increment(deleted);
        // A short batch means nothing expired is left (or another instance holds the rest).
        if deleted < batch {
            return Ok(total);
        }
    }
}

/// One purge run over both tables, written to the audit trail as `actor`'s when it succeeds (a
/// failed run's committed batches are in its warning, not in the trail: the run did not finish).
/// With `announce` (the purge route) and the cache's notifications on, deleting sessions empties
/// every instance's session cache; the background and command-line runs send nothing.
pub async fn run(db: &Db, batch_size: NonZeroU32, actor: &Actor, announce: bool) -> DbResult<Purged> {
    let started = Instant::now();
    let cutoff = db.now();
    let sessions_deleted = purge_table(db, &SESSIONS, cutoff, batch_size, announce && db.notifies()).await;
    let verification_tokens_deleted = match sessions_deleted {
        Ok(_) => purge_table(db, &VERIFICATION_TOKENS, cutoff, batch_size, false).await,
        Err(_) => Ok(0),
    };
    let purged = match (sessions_deleted, verification_tokens_deleted) {
        (Ok(sessions_deleted), Ok(verification_tokens_deleted)) => {
            Purged { sessions_deleted, verification_tokens_deleted }
        }
        (Err(e), _) | (_, Err(e)) => {
            // Batches before the failure are committed; the next run carries on from there.
            tracing::warn!(origin = actor.key(), error = %e, "purge of expired rows failed");
            return Err(e);
        }
    };
    let elapsed_ms = started.elapsed().as_millis() as u64;
    actor.record(Action::PurgeExpired, Subject::none(), purged.sessions_deleted + purged.verification_tokens_deleted);
    let origin = actor.key();
    if purged == Purged::default() {
        tracing::debug!(origin, elapsed_ms, "purge found nothing expired");
    } else {
        tracing::info!(
            origin,
            sessions_deleted = purged.sessions_deleted,
            verification_tokens_deleted = purged.verification_tokens_deleted,
            batch_size = batch_size.get(),
            elapsed_ms,
            "purged expired rows"
        );
    }
    Ok(purged)
}

/// The first background run comes this soon after start-up (or after one interval, if shorter),
/// so that frequent restarts do not postpone purging forever.
const FIRST_RUN_AFTER: Duration = Duration::from_secs(60);

/// Purges every `interval` until the process ends; `None` when `interval` is zero (disabled).
pub fn spawn_background(db: Db, interval: Duration, batch_size: NonZeroU32) -> Option<JoinHandle<()>> {
    if interval.is_zero() {
        return None;
    }
    Some(tokio::spawn(async move {
        let first = tokio::time::Instant::now() + interval.min(FIRST_RUN_AFTER);
        let mut ticks = tokio::time::interval_at(first, interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            // Failures are logged in `run`; the next tick tries again.
            let _ = run(&db, batch_size, &Actor::background(), false).await;
        }
    }))
}
