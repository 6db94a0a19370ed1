//! Every setting, once: a command-line flag with an environment variable, a default and a doc
//! comment (which is also the `--help` text).

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::at_rest::{AtRest, EncryptionKeys, SessionTokenStorage};
use crate::auth::ApiKey;
use crate::db::SqliteTimeFormat;
pub use crate::db::relations::RelationMode;

/// Auth.js's defaults: sessions last 30 days and slide at most once a day.
pub const DEFAULT_SESSION_MAX_AGE: u64 = 30 * 24 * 60 * 60;
pub const DEFAULT_SESSION_UPDATE_AGE: u64 = 24 * 60 * 60;
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_POOL_SIZE: usize = 16;
/// SQLite takes one writer at a time and runs each pooled connection's statements on a blocking
/// thread, which keeps its own allocator heap and page cache: 4 answered as fast as 16 at 32 client
/// connections, at half the peak memory (bench/TUNING.md). The session read does not use the pool
/// (see `db::sqlite::Readers`).
pub const DEFAULT_SQLITE_POOL_SIZE: usize = 4;
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;
/// Requests admitted at once per pool connection when --max-concurrent-requests is unset: one
/// holds the connection while another parses its body or writes its answer, so the pool stays
/// busy without requests piling up in the pool's own (unbounded) wait.
pub const ADMITTED_PER_POOL_CONNECTION: usize = 2;
pub const DEFAULT_MAX_QUEUED_REQUESTS: usize = 1024;
/// Well under the adapter's 10 s timeout and under the 50 ms a session check may add to a page.
pub const DEFAULT_QUEUE_TIMEOUT_MS: u64 = 30;
pub const DEFAULT_PURGE_BATCH_SIZE: NonZeroU32 = NonZeroU32::new(1_000).unwrap();
/// A purge batch larger than this would hold its locks for too long.
pub const MAX_PURGE_BATCH_SIZE: u32 = 100_000;

#[derive(Debug, Parser)]
#[command(
    name = "authbridge",
    version,
    about = "The Auth.js / NextAuth database adapter contract over HTTP, on the exact tables Prisma manages.",
    long_about = None,
    after_help = HELP_FOOTER
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: Config,
}

const HELP_FOOTER: &str = "\
Every option can also be set with the environment variable shown next to it.
With no DATABASE_URL, authbridge keeps its data in ./authbridge.db (SQLite), created on first run.

Examples:
  authbridge
      Serve on 127.0.0.1:7777 with ./authbridge.db; no key needed on loopback.
  DATABASE_URL='postgresql://app@db:5432/app?schema=public' AUTHBRIDGE_API_KEYS=\"$KEY\" \\
  authbridge --bind 0.0.0.0:7777
      Serve the tables Prisma manages; clients send `Authorization: Bearer $KEY`.
  authbridge check-schema --database-url 'postgresql://app@db:5432/app'
      Check that a Prisma-managed database has what authbridge needs.

Exit codes: 0 done, 1 failed (database or schema; healthcheck: not ready), 2 bad configuration
(nothing was started).
Health: GET /healthz, GET /readyz (`authbridge healthcheck` asks /readyz for a container). Metrics: GET /metrics. API description: GET /openapi.json.";

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default).
    ///
    /// Creates the tables first when the database has none of them (never on a database that
    /// Prisma migrates: that one is only verified). Stops cleanly on SIGTERM or Ctrl-C.
    Serve,
    /// Create or update the tables in the database (never on a Prisma-managed database).
    ///
    /// Applies the embedded migrations, the exact SQL Prisma generates, for the backend of
    /// DATABASE_URL: Prisma's default schema, with foreign keys (a schema without them is
    /// Prisma's to create). Refuses to touch a database that has a `_prisma_migrations` table: run
    /// `prisma migrate deploy` there instead.
    Migrate,
    /// Compare the live schema with the Prisma schema; exit 1 with a readable diff.
    ///
    /// Lists every table or column authbridge needs that is missing or has a type it cannot
    /// read, and extra NOT NULL columns without a default that its inserts could not fill. Then
    /// says who enforces the relations to users (--relation-mode) and warns, without failing,
    /// about a relation column no index starts with where there are no foreign keys.
    CheckSchema,
    /// Delete expired sessions and verification tokens once, in batches, and print the counts.
    PurgeExpired,
    /// Hash the session tokens still stored plain, in batches, and print the counts.
    ///
    /// For the switch to --session-token-storage sha256 (docs/security.md): run it while every
    /// server runs with sha256-migrating, and give it that setting too. A stored value of 64
    /// lower-case hex characters may be a hash or one of authbridge's own raw tokens, so it is
    /// left alone; the output says until when such sessions need sha256-migrating.
    MigrateTokens {
        /// Rows read per batch; each row is rewritten by a statement of its own.
        #[arg(long, default_value_t = DEFAULT_PURGE_BATCH_SIZE, value_parser = parse_batch_size)]
        batch_size: NonZeroU32,
    },
    /// Encrypt every OAuth token of `accounts` with the first --encryption-keys key, in batches.
    ///
    /// Rewrites the tokens stored plain or under another key, and prints the counts. Exit 1 when
    /// a value does not open (its account and column are logged, never the value).
    Reencrypt {
        /// Rows read per batch; each row is rewritten by a statement of its own.
        #[arg(long, default_value_t = DEFAULT_PURGE_BATCH_SIZE, value_parser = parse_batch_size)]
        batch_size: NonZeroU32,
    },
    /// Exit 0 when the running server's /readyz answers 200, else 1 with one line on stderr.
    ///
    /// For a container's HEALTHCHECK: needs no shell, no curl, no DATABASE_URL and never opens
    /// the database. Exit 1 on a refused connection, any other status, or no answer within 3 s.
    Healthcheck {
        /// The URL to ask [default: http://<--bind>/readyz, 0.0.0.0 and [::] as loopback].
        #[arg(long, env = "AUTHBRIDGE_HEALTHCHECK_URL")]
        url: Option<String>,
    },
}

/// What to do with keys of `user` and `account` objects that have no column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum UnknownFields {
    /// Drop them, name them in the `AuthBridge-Ignored-Fields` header and log their names.
    #[default]
    Drop,
    /// Answer 400 invalid_argument.
    Reject,
}

/// SQLite date storage: detect it from the rows, or force one format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum SqliteDatetimeFormat {
    /// Use the format found in existing rows; ISO-8601 text for an empty database.
    #[default]
    Auto,
    /// ISO-8601 text `2026-01-02T03:04:05.678+00:00` (Prisma 7 adapters' default).
    Iso8601,
    /// Integer unix milliseconds (Prisma 6 native engine, adapters' `unixepoch-ms`).
    UnixepochMs,
}

impl SqliteDatetimeFormat {
    pub fn forced(self) -> Option<SqliteTimeFormat> {
        match self {
            Self::Auto => None,
            Self::Iso8601 => Some(SqliteTimeFormat::Iso8601),
            Self::UnixepochMs => Some(SqliteTimeFormat::UnixEpochMs),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Database URL, as Prisma users write it: postgresql://user@host/db?schema=auth,
    /// file:./dev.db or sqlite:///abs/path.db. Unset: ./authbridge.db (SQLite).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<String>,

    /// Address to listen on. Without API keys only a loopback address is allowed.
    #[arg(long, env = "AUTHBRIDGE_BIND", default_value = "127.0.0.1:7777", global = true)]
    pub bind: SocketAddr,

    /// API keys accepted in `Authorization: Bearer <key>`; several (comma-separated) for rotation.
    /// These keys have every scope and are named `unnamed`; scoped keys go in --api-key-file.
    #[arg(long = "api-key", env = "AUTHBRIDGE_API_KEYS", value_delimiter = ',', hide_env_values = true, global = true)]
    pub api_keys: Vec<String>,

    /// File with one API key per line: `<name> <scopes> <key>`, scopes comma-separated (adapter,
    /// session:read, sessions:manage, maintenance, ops), or just `<key>` for an unnamed key with
    /// every scope. Blank lines and lines starting with # are skipped.
    #[arg(long, env = "AUTHBRIDGE_API_KEY_FILE", global = true)]
    pub api_key_file: Option<PathBuf>,

    /// Session lifetime in seconds when a request gives no maxAge (Auth.js default: 30 days).
    #[arg(long, env = "AUTHBRIDGE_SESSION_MAX_AGE", default_value_t = DEFAULT_SESSION_MAX_AGE, global = true)]
    pub session_max_age: u64,

    /// Seconds between expiry slides when a request gives no updateAge (Auth.js default: 24 h).
    #[arg(long, env = "AUTHBRIDGE_SESSION_UPDATE_AGE", default_value_t = DEFAULT_SESSION_UPDATE_AGE, global = true)]
    pub session_update_age: u64,

    /// Keys of `user` / `account` objects that have no column: drop (and report) or reject.
    #[arg(long, env = "AUTHBRIDGE_UNKNOWN_FIELDS", value_enum, default_value_t, global = true)]
    pub unknown_fields: UnknownFields,

    /// Largest accepted request body, in bytes; larger bodies get 413.
    #[arg(long, env = "AUTHBRIDGE_BODY_LIMIT", default_value_t = DEFAULT_BODY_LIMIT, global = true)]
    pub body_limit: usize,

    /// Database connections in the pool [default: the DATABASE_URL's connection_limit, else 4 on
    /// SQLite, else 16].
    #[arg(long, env = "AUTHBRIDGE_POOL_SIZE", global = true)]
    pub pool_size: Option<usize>,

    /// Milliseconds a request waits for a free connection before it is answered 503.
    #[arg(long, env = "AUTHBRIDGE_POOL_TIMEOUT_MS", default_value_t = 2_000, global = true)]
    pub pool_timeout_ms: u64,

    /// Milliseconds a request may take in all before it is answered 408.
    #[arg(long, env = "AUTHBRIDGE_REQUEST_TIMEOUT_MS", default_value_t = DEFAULT_REQUEST_TIMEOUT_MS, global = true)]
    pub request_timeout_ms: u64,

    /// Largest request line plus headers, in bytes; larger ones get 431.
    #[arg(long, env = "AUTHBRIDGE_MAX_HEADER_BYTES", default_value_t = DEFAULT_MAX_HEADER_BYTES,
          value_parser = parse_header_limit, global = true)]
    pub max_header_bytes: usize,

    /// Milliseconds a client has to send a request's headers (slow clients are disconnected);
    /// also how long an idle keep-alive connection stays open.
    #[arg(long, env = "AUTHBRIDGE_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub header_read_timeout_ms: u64,

    /// Requests handled at once [default: twice the pool size]; beyond it they wait in a
    /// bounded queue (see docs/reliability.md). /healthz and /readyz are not counted. 0 = no limit.
    #[arg(long, env = "AUTHBRIDGE_MAX_CONCURRENT_REQUESTS", global = true)]
    pub max_concurrent_requests: Option<usize>,

    /// Requests that may wait for a slot beyond --max-concurrent-requests; past it a request is
    /// answered 503 at once, before its body is read.
    #[arg(long, env = "AUTHBRIDGE_MAX_QUEUED_REQUESTS", default_value_t = DEFAULT_MAX_QUEUED_REQUESTS, global = true)]
    pub max_queued_requests: usize,

    /// Milliseconds a request may wait in that queue, once it has been standing for 100 ms
    /// (overload), before it is answered 503 (with Retry-After); a burst that finds the queue
    /// empty may wait up to 500 ms.
    #[arg(long, env = "AUTHBRIDGE_QUEUE_TIMEOUT_MS", default_value_t = DEFAULT_QUEUE_TIMEOUT_MS, global = true)]
    pub queue_timeout_ms: u64,

    /// Set SO_REUSEPORT on the listening socket, so that a new process can bind the same port
    /// while the old one drains (restarts without refused connections; docs/deployment.md).
    #[arg(long, env = "AUTHBRIDGE_REUSE_PORT", global = true)]
    pub reuse_port: bool,

    /// On SIGTERM or Ctrl-C, how long requests in flight may take to finish (e.g. 20s); past it,
    /// or on a second signal, the process exits with code 1 and drops the open connections.
    #[arg(long, env = "AUTHBRIDGE_SHUTDOWN_GRACE_PERIOD", default_value = "20s", value_parser = parse_duration,
          global = true)]
    pub shutdown_grace_period: Duration,

    /// How SQLite stores dates (see Prisma's `timestampFormat`); auto detects it from the rows.
    #[arg(long, env = "AUTHBRIDGE_SQLITE_DATETIME_FORMAT", value_enum, default_value_t, global = true)]
    pub sqlite_datetime_format: SqliteDatetimeFormat,

    /// Milliseconds SQLite waits for a competing writer before giving up.
    #[arg(long, env = "AUTHBRIDGE_SQLITE_BUSY_TIMEOUT_MS", default_value_t = 5_000, global = true)]
    pub sqlite_busy_timeout_ms: u64,

    /// How often the background task deletes expired sessions and verification tokens, e.g. 1h,
    /// 15m, 90s or 3600 (seconds); 0 disables it. The first run is one minute after start-up (or
    /// one interval, if shorter).
    #[arg(long, env = "AUTHBRIDGE_PURGE_INTERVAL", default_value = "1h", value_parser = parse_duration, global = true)]
    pub purge_interval: Duration,

    /// Rows deleted per statement when purging; each batch is its own short transaction.
    #[arg(long, env = "AUTHBRIDGE_PURGE_BATCH_SIZE", default_value_t = DEFAULT_PURGE_BATCH_SIZE,
          value_parser = parse_batch_size, global = true)]
    pub purge_batch_size: NonZeroU32,

    /// Sessions one user may hold; createSession deletes the user's sessions that expire first
    /// beyond this, in the same transaction. 0 = no limit.
    #[arg(long, env = "AUTHBRIDGE_MAX_SESSIONS_PER_USER", default_value_t = 0, global = true)]
    pub max_sessions_per_user: u32,

    /// Keep getSessionAndUser answers in memory this long (e.g. 1s, 30s; at most 60s); 0 = no
    /// cache. Writes made through any authbridge instance are seen at once (on PostgreSQL through
    /// LISTEN/NOTIFY, which needs a direct connection: not with pgbouncer=true); writes made by
    /// other programs after at most this long. See docs/session-cache.md.
    #[arg(long, env = "AUTHBRIDGE_SESSION_CACHE_TTL", default_value = "0", value_parser = parse_cache_ttl,
          global = true)]
    pub session_cache_ttl: Duration,

    /// Sessions the cache holds at most (the least recently used go first).
    #[arg(long, env = "AUTHBRIDGE_SESSION_CACHE_SIZE", default_value_t = crate::cache::DEFAULT_SIZE, global = true)]
    pub session_cache_size: std::num::NonZeroUsize,

    /// How long a rotated-out session token still reads its session (the browser's requests
    /// already in flight carry it), e.g. 30s; needs the optional `previousSessionToken` and
    /// `rotatedAt` columns. See docs/session-management.md.
    #[arg(long, env = "AUTHBRIDGE_ROTATION_GRACE", default_value = "30s", value_parser = parse_duration, global = true)]
    pub rotation_grace: Duration,

    /// What a rotated-out token presented after the grace window does: revoke (delete the session:
    /// two parties hold it) or ignore (answer null and only log and count it).
    #[arg(long, env = "AUTHBRIDGE_ROTATION_REUSE", value_enum, default_value_t, global = true)]
    pub rotation_reuse: crate::rotation::Reuse,

    /// Who enforces the relations to users: auto (detected from the schema at start-up),
    /// foreign-keys (the database's) or prisma (authbridge's transactions, for databases without
    /// foreign keys such as PlanetScale / Vitess).
    #[arg(long, env = "AUTHBRIDGE_RELATION_MODE", value_enum, default_value_t, global = true)]
    pub relation_mode: RelationMode,

    /// What the sessionToken column holds: plain (the token; Prisma Client code that looks
    /// sessions up by token needs it), sha256 (its SHA-256: a copy of the database signs nobody
    /// in) or sha256-migrating (sha256, and sessions stored plain still sign in and are hashed on
    /// first use). See docs/security.md.
    #[arg(long, env = "AUTHBRIDGE_SESSION_TOKEN_STORAGE", value_enum, default_value_t, global = true)]
    pub session_token_storage: SessionTokenStorage,

    /// Encrypt the OAuth tokens of `accounts` (access_token, refresh_token, id_token) with
    /// AES-256-GCM: comma-separated `id:base64key` pairs, a key being 32 random bytes (`openssl
    /// rand -base64 32`). The first encrypts, all decrypt: to rotate, put a new key first, run
    /// `authbridge reencrypt`, then drop the old one. Unset: tokens are stored as sent.
    #[arg(long, env = "AUTHBRIDGE_ENCRYPTION_KEYS", hide_env_values = true, global = true,
          value_parser = |text: &str| Ok::<_, String>(KeyList(text.to_owned())))]
    pub encryption_keys: Option<KeyList>,

    /// Log format; the level comes from RUST_LOG (default info).
    #[arg(long, env = "AUTHBRIDGE_LOG_FORMAT", value_enum, default_value_t, global = true)]
    pub log_format: LogFormat,
}

impl Config {
    /// `connection_limit` is Prisma's URL parameter; an explicit pool size wins over it.
    pub fn pool_options(&self, connection_limit: Option<usize>, sqlite: bool) -> crate::db::PoolOptions {
        let default = if sqlite { DEFAULT_SQLITE_POOL_SIZE } else { DEFAULT_POOL_SIZE };
        crate::db::PoolOptions {
            max_size: self.pool_size.or(connection_limit).unwrap_or(default).max(1),
            wait_timeout: Duration::from_millis(self.pool_timeout_ms),
            sqlite_busy_timeout: Duration::from_millis(self.sqlite_busy_timeout_ms),
        }
    }

    /// How secrets are stored; an unusable key list is an error that never quotes a key.
    pub fn at_rest(&self) -> Result<AtRest, String> {
        let encryption_keys = self
            .encryption_keys
            .as_ref()
            .map(|KeyList(text)| EncryptionKeys::parse(text).map_err(|e| format!("--encryption-keys: {e}")))
            .transpose()?;
        Ok(AtRest { session_tokens: self.session_token_storage, encryption_keys })
    }

    /// All API keys: unnamed ones with every scope from flags/env, and those of the key file.
    pub fn load_api_keys(&self) -> Result<Vec<ApiKey>, String> {
        let mut keys: Vec<ApiKey> =
            self.api_keys.iter().map(|k| k.trim()).filter(|k| !k.is_empty()).map(ApiKey::unscoped).collect();
        if let Some(path) = &self.api_key_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read --api-key-file {}: {e}", path.display()))?;
            let before = keys.len();
            for (number, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let key =
                    line.parse().map_err(|e| format!("--api-key-file {} line {}: {e}", path.display(), number + 1))?;
                keys.push(key);
            }
            // Even with keys from --api-key: an emptied key file is a mistake, not a setting.
            if keys.len() == before {
                return Err(format!("--api-key-file {} holds no key", path.display()));
            }
        }
        Ok(keys)
    }
}

/// The text of `--encryption-keys`, parsed once the command runs (so that no parse error of
/// clap's quotes it); `Debug` never shows it.
#[derive(Clone)]
pub struct KeyList(String);

impl std::fmt::Debug for KeyList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyList(..)")
    }
}

/// A purge batch size: 1 to [`MAX_PURGE_BATCH_SIZE`].
pub fn parse_batch_size(text: &str) -> Result<NonZeroU32, String> {
    text.trim()
        .parse::<u32>()
        .ok()
        .and_then(NonZeroU32::new)
        .filter(|n| n.get() <= MAX_PURGE_BATCH_SIZE)
        .ok_or_else(|| format!("must be a whole number from 1 to {MAX_PURGE_BATCH_SIZE}"))
}

/// A header limit: 1 KiB to 1 MiB (hyper's read buffer is sized from it).
fn parse_header_limit(text: &str) -> Result<usize, String> {
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1024..=1024 * 1024).contains(n))
        .ok_or_else(|| "must be a number of bytes from 1024 to 1048576".to_owned())
}

/// `90s`, `15m`, `1h 30m` (humantime) or a bare number of seconds.
fn parse_cache_ttl(text: &str) -> Result<Duration, String> {
    let ttl = parse_duration(text)?;
    if ttl > crate::cache::MAX_TTL {
        return Err(format!("at most {}s", crate::cache::MAX_TTL.as_secs()));
    }
    Ok(ttl)
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    humantime::parse_duration(text).map_err(|e| format!("{e} (write e.g. 1h, 15m, 90s or a number of seconds)"))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Cli;

    #[test]
    fn encryption_keys_never_show_in_a_debug_print() {
        let key = "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        let cli = Cli::try_parse_from(["authbridge", "--encryption-keys", key]).expect("parses");
        assert!(!format!("{cli:?}").contains("AAAA"), "{cli:?}");
        let at_rest = cli.config.at_rest().expect("a valid key list");
        assert_eq!(at_rest.encryption_keys.map(|keys| keys.current_id().to_owned()).as_deref(), Some("k1"));
    }
}
