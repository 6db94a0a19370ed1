//! The opt-in session cache (`--session-cache-ttl`, off by default): `getSessionAndUser` answers
//! kept in process for at most the TTL (60 s at most), so that a page view can be answered
//! without the database.
//!
//! What it promises (docs/session-cache.md says the same to operators):
//! - never a session at or past its `expires`: every hit checks `expires > now`; a hit whose slide
//!   is due takes the database path, which writes the slide, and refreshes the entry;
//! - a write made through this instance (sign-out, updateSession, updateUser, deleteUser,
//!   rotation, sign-out everywhere, deletion by id, createSession's per-user limit, the purge
//!   route) is invalidated here before its answer is sent;
//! - on PostgreSQL, the same write is announced with `NOTIFY` on [`CHANNEL`], sent inside the
//!   write's own transaction (see [`crate::db::notify`]), so it is delivered if and only if the
//!   write commits; every instance's listener (one direct connection each, outside the pool)
//!   invalidates it within milliseconds. While that connection is down the cache is emptied and
//!   bypassed;
//! - on MySQL and SQLite only the instance's own writes invalidate, and writes made by other
//!   programs (Prisma Client, SQL) are seen after at most the TTL on every backend.
//!
//! Keys are the SHA-256 of the token, never the token, and the cached session keeps no token:
//! the answer gets the caller's token back. Notifications carry ids only (`s:<session id>`,
//! `u:<user id>`, `*` for everything), never a token.
//!
//! A read that misses fills the entry only if no invalidation happened since the miss (a
//! generation counter): a read that began before a write committed can otherwise put back the
//! answer the write just invalidated.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lru::LruCache;
use metrics::{counter, gauge};
use sha2::{Digest, Sha256};

use crate::db::notify::{ALL, SESSION_PREFIX, USER_PREFIX};
use crate::db::{Db, DbResult, DbTime};
use crate::models::sessions::{self, Session, Slide};
use crate::models::users::User;

pub use crate::db::notify::CHANNEL;
/// The longest `--session-cache-ttl`: the delay other programs' writes may take to show.
pub const MAX_TTL: Duration = Duration::from_secs(60);
/// Default `--session-cache-size` (entries).
pub const DEFAULT_SIZE: NonZeroUsize = NonZeroUsize::new(10_000).unwrap();

pub const HITS: &str = "authbridge_session_cache_hits_total";
pub const MISSES: &str = "authbridge_session_cache_misses_total";
pub const INVALIDATIONS: &str = "authbridge_session_cache_invalidations_total";
/// 1 while the `LISTEN` connection is up (the cache is in use), 0 while it is down (bypassed);
/// only on PostgreSQL.
pub const LISTENER_UP: &str = "authbridge_session_cache_listener_up";

/// What a write changed, for invalidation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The session with this id (deleted, updated, rotated).
    Session(String),
    /// Every session of this user (the user changed or went, or sign-out everywhere).
    User(String),
    /// The entry of this token; local only (a token never goes into a notification).
    Token(String),
    /// Everything.
    All,
}

impl Change {
    /// What a notification names; its payloads are built from the written rows' ids by
    /// [`crate::db::notify`], so a token can never be one.
    fn from_payload(payload: &str) -> Option<Change> {
        if let Some(id) = payload.strip_prefix(SESSION_PREFIX) {
            Some(Change::Session(id.to_owned()))
        } else if let Some(id) = payload.strip_prefix(USER_PREFIX) {
            Some(Change::User(id.to_owned()))
        } else {
            (payload == ALL).then_some(Change::All)
        }
    }
}

type Key = [u8; 32];

fn key(token: &str) -> Key {
    Sha256::digest(token.as_bytes()).into()
}

struct Entry {
    /// Its `session_token` is empty: the caller's token goes back in on a hit.
    session: Session,
    user: User,
    stored_at: Instant,
}

struct Entries {
    lru: LruCache<Key, Entry>,
    by_session: HashMap<String, Key>,
    by_user: HashMap<String, HashSet<Key>>,
    /// Bumped by every invalidation; a miss fills only if it has not moved since.
    generation: u64,
}

impl Entries {
    fn forget(&mut self, key: &Key, entry: &Entry) {
        if self.by_session.get(&entry.session.id) == Some(key) {
            self.by_session.remove(&entry.session.id);
        }
        if let Some(keys) = self.by_user.get_mut(&entry.user.id) {
            keys.remove(key);
            if keys.is_empty() {
                self.by_user.remove(&entry.user.id);
            }
        }
    }

    fn remove(&mut self, key: &Key) -> bool {
        match self.lru.pop(key) {
            Some(entry) => {
                self.forget(key, &entry);
                true
            }
            None => false,
        }
    }

    fn clear(&mut self) {
        self.lru.clear();
        self.by_session.clear();
        self.by_user.clear();
    }
}

/// The cache of one instance (see the module documentation).
pub struct SessionCache {
    ttl: Duration,
    entries: Mutex<Entries>,
    /// False while the PostgreSQL listener is down: nothing is read or stored.
    active: AtomicBool,
    /// Notifications applied, for tests and operators who wait for one to arrive.
    notifications: AtomicU64,
    /// Dropped with the cache: the listener task then ends.
    _stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// A miss: where a fill may go, if nothing was invalidated in between.
pub struct Miss {
    key: Key,
    generation: u64,
}

impl SessionCache {
    /// A cache of `size` entries. On PostgreSQL it starts bypassed and a listener task is spawned
    /// (this needs a tokio runtime): the cache is used once `LISTEN` runs.
    pub fn start(db: &Db, ttl: Duration, size: NonZeroUsize) -> Arc<Self> {
        let entries =
            Entries { lru: LruCache::new(size), by_session: HashMap::new(), by_user: HashMap::new(), generation: 0 };
        let listens = listens(db);
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let cache = Arc::new(Self {
            ttl,
            entries: Mutex::new(entries),
            active: AtomicBool::new(!listens),
            notifications: AtomicU64::new(0),
            _stop: listens.then_some(stop),
        });
        if listens {
            gauge!(LISTENER_UP).set(0.0);
            #[cfg(feature = "postgres")]
            tokio::spawn(listener::run(db.clone(), Arc::downgrade(&cache), stopped));
        }
        cache
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// False while the listener is down (PostgreSQL): every read goes to the database.
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::SeqCst)
    }

    /// Whether an answer for `token` is held (it may still be refused, e.g. once expired).
    pub fn contains(&self, token: &str) -> bool {
        self.lock().lru.contains(&key(token))
    }

    /// Notifications received and applied so far.
    pub fn notifications_applied(&self) -> u64 {
        self.notifications.load(Ordering::SeqCst)
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        // A panic cannot leave the maps half-updated in a way that serves a stale answer: at
        // worst an index names a missing entry, which removal tolerates.
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached answer for `token`, or where to store the database's answer.
    fn get(&self, token: &str, now: DbTime, slide: Option<Slide>) -> Result<(Session, User), Option<Miss>> {
        if !self.is_active() {
            return Err(None);
        }
        let key = key(token);
        let mut entries = self.lock();
        let generation = entries.generation;
        let usable = entries.lru.get(&key).map(|entry| {
            entry.stored_at.elapsed() < self.ttl
                && entry.session.expires > now
                && slide.is_none_or(|slide| entry.session.expires > slide.due_before)
        });
        match usable {
            Some(true) => {
                let entry = entries.lru.get(&key).unwrap_or_else(|| unreachable!("found above"));
                let session = Session { session_token: token.to_owned(), ..entry.session.clone() };
                Ok((session, entry.user.clone()))
            }
            Some(false) => {
                entries.remove(&key);
                Err(Some(Miss { key, generation }))
            }
            None => Err(Some(Miss { key, generation })),
        }
    }

    /// Stores what the database answered after `miss`, unless something was invalidated since.
    fn fill(&self, miss: Miss, session: &Session, user: &User) {
        let mut entries = self.lock();
        if entries.generation != miss.generation || !self.is_active() {
            return;
        }
        let entry = Entry {
            session: Session { session_token: String::new(), ..session.clone() },
            user: user.clone(),
            stored_at: Instant::now(),
        };
        if let Some((old_key, old)) = entries.lru.push(miss.key, entry) {
            entries.forget(&old_key, &old);
        }
        entries.by_session.insert(session.id.clone(), miss.key);
        entries.by_user.entry(user.id.clone()).or_default().insert(miss.key);
    }

    /// Removes what `change` names.
    pub fn invalidate(&self, change: &Change) {
        let mut entries = self.lock();
        entries.generation += 1;
        match change {
            Change::Session(id) => {
                if let Some(key) = entries.by_session.get(id).copied() {
                    entries.remove(&key);
                }
            }
            Change::User(id) => {
                for key in entries.by_user.get(id).cloned().unwrap_or_default() {
                    entries.remove(&key);
                }
            }
            Change::Token(token) => {
                entries.remove(&key(token));
            }
            Change::All => entries.clear(),
        }
        counter!(INVALIDATIONS).increment(1);
    }

    /// Empties the cache and uses it (`true`) or bypasses it (`false`).
    fn set_active(&self, active: bool) {
        let mut entries = self.lock();
        entries.generation += 1;
        entries.clear();
        self.active.store(active, Ordering::SeqCst);
    }

    fn apply(&self, payload: &str) {
        match Change::from_payload(payload) {
            Some(change) => self.invalidate(&change),
            // Not ours (another program on the channel): emptying is always safe.
            None => self.invalidate(&Change::All),
        }
        self.notifications.fetch_add(1, Ordering::SeqCst);
    }
}

/// Whether this backend has a notification channel to wait for.
fn listens(db: &Db) -> bool {
    db.has_notification_channel()
}

/// `getSessionAndUser` through the cache when there is one.
pub async fn find_with_user(
    cache: Option<&SessionCache>,
    db: &Db,
    token: &str,
    now: DbTime,
    slide: Option<Slide>,
) -> DbResult<Option<(Session, User)>> {
    let Some(cache) = cache else { return sessions::find_with_user(db, token, now, slide).await };
    let miss = match cache.get(token, now, slide) {
        Ok(hit) => {
            counter!(HITS).increment(1);
            return Ok(Some(hit));
        }
        Err(miss) => miss,
    };
    counter!(MISSES).increment(1);
    let found = sessions::find_with_user(db, token, now, slide).await?;
    if let (Some(miss), Some((session, user))) = (miss, &found) {
        cache.fill(miss, session, user);
    }
    Ok(found)
}

/// After a write has committed: invalidates `changes` here, before the answer is sent. The
/// other instances learn of it from the write's own transaction (see [`crate::db::notify`]).
/// Nothing happens when this instance has no cache (see docs/session-cache.md: every instance on
/// one database runs with the same setting).
pub fn written(cache: Option<&SessionCache>, changes: &[Change]) {
    let Some(cache) = cache else { return };
    for change in changes {
        cache.invalidate(change);
    }
}

#[cfg(feature = "postgres")]
mod listener {
    use std::sync::Weak;
    use std::time::Duration;

    use metrics::gauge;

    use super::{CHANNEL, LISTENER_UP, SessionCache};
    use crate::db::Db;

    const FIRST_RETRY: Duration = Duration::from_millis(100);
    const LONGEST_RETRY: Duration = Duration::from_secs(5);

    /// Keeps one `LISTEN` connection open while the cache lives, reconnecting with backoff; the
    /// cache is in use only while it is up.
    pub(super) async fn run(db: Db, cache: Weak<SessionCache>, mut stopped: tokio::sync::oneshot::Receiver<()>) {
        let Some(connector) = db.pg_connector() else { return };
        let mut retry = FIRST_RETRY;
        let mut was_up = false;
        loop {
            match connector.listen(CHANNEL).await {
                Ok((client, mut notifications)) => {
                    let Some(strong) = cache.upgrade() else { return };
                    strong.set_active(true);
                    drop(strong);
                    gauge!(LISTENER_UP).set(1.0);
                    tracing::info!("session cache: listening for invalidations; the cache is in use");
                    retry = FIRST_RETRY;
                    was_up = true;
                    loop {
                        tokio::select! {
                            received = notifications.recv() => match (received, cache.upgrade()) {
                                // One change per notification: an id may hold any character.
                                (Some(notification), Some(cache)) => cache.apply(notification.payload()),
                                (None, _) => break,
                                (_, None) => return,
                            },
                            _ = &mut stopped => return,
                        }
                    }
                    drop(client);
                    let Some(strong) = cache.upgrade() else { return };
                    strong.set_active(false);
                    gauge!(LISTENER_UP).set(0.0);
                    tracing::warn!(
                        "session cache: the LISTEN connection was lost; the cache is emptied and bypassed until it is back"
                    );
                }
                Err(e) => {
                    if was_up || retry == FIRST_RETRY {
                        tracing::warn!(error = %e, "session cache: cannot LISTEN; the cache is bypassed until it can");
                    }
                    was_up = false;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(retry) => {}
                _ = &mut stopped => return,
            }
            retry = (retry * 2).min(LONGEST_RETRY);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Change;

    #[test]
    fn payloads_carry_ids_only_and_read_back() {
        use crate::db::notify;
        assert_eq!(Change::from_payload(&notify::session("s1")), Some(Change::Session("s1".into())));
        assert_eq!(Change::from_payload(&notify::user("u1")), Some(Change::User("u1".into())));
        assert_eq!(Change::from_payload(notify::ALL), Some(Change::All));
        assert_eq!(Change::from_payload("x"), None);
    }
}
