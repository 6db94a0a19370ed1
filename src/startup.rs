//! From a parsed command line to a running service (or a finished command).

use std::num::NonZeroU32;
use std::process::ExitCode;
use std::time::Duration;

use tracing_subscriber::Layer as _;

use crate::at_rest::{AtRest, SessionTokenStorage};
use crate::auth::ApiKeys;
use crate::config::{Cli, Command, Config, LogFormat, RelationMode};
use crate::db::migrate::{Migrate, Setup};
use crate::db::{Db, PoolOptions, check, url};
use crate::models::{accounts, sessions};
use crate::server::{self, ServerOptions};
use crate::{AppState, Settings, app, healthcheck, purge};

/// Exit code for configuration errors, reported before anything starts.
const EXIT_CONFIG: u8 = 2;

pub fn init_tracing(format: LogFormat) {
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour codes only for a person at a terminal, never into files or log collectors.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = subscriber(format, filter, std::io::stderr, ansi).try_init();
}

/// Installs the global subscriber (without colour codes).
pub fn try_init_tracing<W>(
    format: LogFormat,
    filter: tracing_subscriber::EnvFilter,
    writer: W,
) -> Result<(), tracing_subscriber::util::TryInitError>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::util::SubscriberInitExt;
    subscriber(format, filter, writer, false).try_init()
}

/// The subscriber behind the logs. Whatever the level, events that could carry secrets are
/// dropped: tokio-postgres logs every statement's parameters (tokens, emails) at debug level.
pub fn subscriber<W>(
    format: LogFormat,
    filter: tracing_subscriber::EnvFilter,
    writer: W,
    ansi: bool,
) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::layer::SubscriberExt;
    let never_secrets = tracing_subscriber::filter::filter_fn(|meta| {
        !((meta.target().starts_with("tokio_postgres") || meta.target().starts_with("mysql_async"))
            && *meta.level() > tracing::Level::INFO)
    });
    let fmt = tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(ansi);
    let fmt = match format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt.json().flatten_event(true).boxed(),
    };
    tracing_subscriber::registry().with(filter).with(never_secrets).with(fmt)
}

fn config_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("authbridge: {message}");
    ExitCode::from(EXIT_CONFIG)
}

pub async fn run(cli: Cli) -> ExitCode {
    let config = cli.config;
    match cli.command.unwrap_or(Command::Serve) {
        // Asks the running server over HTTP: needs neither DATABASE_URL nor the database.
        Command::Healthcheck { url } => {
            healthcheck::run(&url.unwrap_or_else(|| healthcheck::default_url(config.bind))).await
        }
        Command::Serve => serve(config).await,
        Command::Migrate => match connect(&config, Migrate::Always).await {
            Ok(_) => ExitCode::SUCCESS,
            Err(code) => code,
        },
        Command::CheckSchema => match database(&config)
            .and_then(|(target, options)| Db::new(target, &options, Default::default()).map_err(config_error))
        {
            Ok(db) => check_schema(db, config.relation_mode).await,
            Err(code) => code,
        },
        Command::PurgeExpired => purge_expired(&config).await,
        Command::MigrateTokens { batch_size } => migrate_tokens(&config, batch_size).await,
        Command::Reencrypt { batch_size } => reencrypt(&config, batch_size).await,
    }
}

/// Where DATABASE_URL points and the pool settings for it; nothing is opened yet.
fn database(config: &Config) -> Result<(url::Target, PoolOptions), ExitCode> {
    let parsed = url::parse_url(config.database_url.as_deref()).map_err(config_error)?;
    if let url::Target::Sqlite { path } = &parsed.target {
        url::check_sqlite_path(path, std::path::Path::new(".")).map_err(config_error)?;
    }
    if !parsed.dropped.is_empty() {
        tracing::info!(parameters = %parsed.dropped.join(", "), "ignoring Prisma-only DATABASE_URL parameters");
    }
    let options = config.pool_options(parsed.connection_limit, matches!(parsed.target, url::Target::Sqlite { .. }));
    tracing::info!(pool_size = options.max_size, "connection pool");
    Ok((parsed.target, options))
}

/// The database ready to serve: connected, migrated as `policy` allows, verified.
async fn connect(config: &Config, policy: Migrate) -> Result<Db, ExitCode> {
    let (target, options) = database(config)?;
    connect_to(target, &options, policy, config).await
}

async fn connect_to(
    target: url::Target,
    options: &PoolOptions,
    policy: Migrate,
    config: &Config,
) -> Result<Db, ExitCode> {
    let setup = Setup {
        migrate: policy,
        at_rest: config.at_rest().map_err(config_error)?,
        relation_mode: config.relation_mode,
        sqlite_format: config.sqlite_datetime_format.forced(),
    };
    match Db::connect(target, options, setup).await {
        Ok((db, prepared)) => {
            tracing::info!(
                backend = db.backend_name(),
                applied_migrations = prepared.applied_migrations,
                prisma_managed = prepared.prisma_managed,
                sqlite_datetime_format = prepared.sqlite_format.map(|f| f.name()),
                relation_mode = %prepared.relation_mode,
                "database ready"
            );
            tracing::info!("{}", prepared.relations.describe(prepared.relation_mode));
            for warning in prepared.relations.warnings(prepared.relation_mode) {
                tracing::warn!("{warning}");
            }
            Ok(db)
        }
        Err(e) if e.is_configuration() => Err(config_error(e)),
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("authbridge: {e}");
            Err(ExitCode::FAILURE)
        }
    }
}

/// Prints the schema's problems (exit 1), then how the relations are enforced and the warnings
/// (missing indexes), which do not fail the check: the contract holds without the indexes.
async fn check_schema(db: Db, relation_mode: RelationMode) -> ExitCode {
    let checked = match check::check(&db).await {
        Ok(report) if report.is_ok() => check::relations(&db).await,
        Ok(report) => {
            eprintln!("authbridge: the schema does not match:\n{report}");
            return ExitCode::FAILURE;
        }
        Err(e) => Err(e),
    };
    let relations = match checked {
        Ok(relations) => relations,
        Err(e) => {
            eprintln!("authbridge: {e}");
            return ExitCode::FAILURE;
        }
    };
    match relations.resolve(relation_mode) {
        Ok(mode) => {
            eprintln!("authbridge: {}", relations.describe(mode));
            for warning in relations.warnings(mode) {
                eprintln!("authbridge: warning: {warning}");
            }
            eprintln!("authbridge: the schema has everything authbridge needs");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("authbridge: the schema does not match:\n  - {e}");
            ExitCode::FAILURE
        }
    }
}

/// The database of a one-off command, ready: the SQLite date format settled (time comparisons
/// depend on it), the schema checked.
async fn command_db(config: &Config) -> Result<Db, ExitCode> {
    connect(config, Migrate::IfEmpty).await
}

/// A command's result: its counts on stdout as JSON, or the error on stderr.
fn report<T: serde::Serialize, E: std::fmt::Display>(what: &str, result: Result<T, E>) -> ExitCode {
    match result {
        Ok(counts) => {
            #[allow(clippy::print_stdout, reason = "the command's output")]
            {
                println!("{}", serde_json::json!(counts));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("authbridge: {what} failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `authbridge purge-expired`: one purge run.
async fn purge_expired(config: &Config) -> ExitCode {
    match command_db(config).await {
        Ok(db) => {
            report("purge", purge::run(&db, config.purge_batch_size, &crate::audit::Actor::command(), false).await)
        }
        Err(code) => code,
    }
}

/// `authbridge migrate-tokens`: hashes the session tokens stored plain.
async fn migrate_tokens(config: &Config, batch_size: NonZeroU32) -> ExitCode {
    if config.session_token_storage == SessionTokenStorage::Plain {
        return config_error(
            "migrate-tokens stores hashes: give it --session-token-storage sha256-migrating, the servers' setting while it runs",
        );
    }
    let db = match command_db(config).await {
        Ok(db) => db,
        Err(code) => return code,
    };
    let migrated = sessions::hash_plain_tokens(&db, batch_size, db.now()).await;
    if let Ok(migrated) = &migrated
        && let Some(until) = migrated.ambiguous_until
    {
        eprintln!(
            "authbridge: {} live sessions hold 64 hex characters, a hash or a raw token of authbridge's own; keep \
             sha256-migrating until {} (each is hashed on first use or has expired by then)",
            migrated.ambiguous,
            crate::db::time::format_rfc3339(until.at())
        );
    }
    report("migrate-tokens", migrated)
}

/// `authbridge reencrypt`: every OAuth token sealed under the first key. Exit 1 when a token
/// does not open.
async fn reencrypt(config: &Config, batch_size: NonZeroU32) -> ExitCode {
    let keys = match config.at_rest() {
        Ok(AtRest { encryption_keys: Some(keys), .. }) => keys,
        Ok(_) => return config_error("reencrypt needs --encryption-keys (the first key is the one it seals with)"),
        Err(e) => return config_error(e),
    };
    let db = match command_db(config).await {
        Ok(db) => db,
        Err(code) => return code,
    };
    match accounts::reencrypt(&db, &keys, batch_size).await {
        Ok(done) if done.failed > 0 => {
            eprintln!("authbridge: {} tokens did not open with the configured keys (see the log)", done.failed);
            report("reencrypt", Ok::<_, String>(done));
            ExitCode::FAILURE
        }
        result => report("reencrypt", result),
    }
}

async fn serve(config: Config) -> ExitCode {
    let (target, pool_options) = match database(&config) {
        Ok(database) => database,
        Err(code) => return code,
    };
    let api_keys = match config.load_api_keys() {
        Ok(keys) => keys,
        Err(e) => return config_error(e),
    };
    if api_keys.is_empty() && !config.bind.ip().is_loopback() {
        return config_error(format!(
            "refusing to listen on {} without an API key: set AUTHBRIDGE_API_KEYS (or --api-key-file), or bind to 127.0.0.1",
            config.bind
        ));
    }
    if config.session_update_age > config.session_max_age {
        return config_error("--session-update-age must not be greater than --session-max-age");
    }
    if !config.session_cache_ttl.is_zero()
        && let url::Target::Postgres { pgbouncer: true, .. } = &target
    {
        return config_error(
            "--session-cache-ttl needs LISTEN, which a transaction pooler cannot carry: point DATABASE_URL at \
             PostgreSQL directly (without pgbouncer=true), or leave the cache off",
        );
    }
    let db = match connect_to(target, &pool_options, Migrate::IfEmpty, &config).await {
        Ok(db) => db,
        Err(code) => return code,
    };
    if api_keys.is_empty() {
        tracing::warn!(
            "NO API KEY CONFIGURED: every local process can read and write sessions. Set AUTHBRIDGE_API_KEYS in production."
        );
    }
    let settings = Settings {
        api_keys: api_keys.into_iter().collect::<ApiKeys>(),
        session_max_age: config.session_max_age,
        session_update_age: config.session_update_age,
        unknown_fields: config.unknown_fields,
        body_limit: config.body_limit,
        request_timeout: Duration::from_millis(config.request_timeout_ms),
        max_header_bytes: config.max_header_bytes,
        max_concurrent_requests: config
            .max_concurrent_requests
            .unwrap_or(pool_options.max_size * crate::config::ADMITTED_PER_POOL_CONNECTION),
        max_queued_requests: config.max_queued_requests,
        queue_timeout: Duration::from_millis(config.queue_timeout_ms),
        max_sessions_per_user: config.max_sessions_per_user,
        purge_batch_size: config.purge_batch_size,
        session_cache_ttl: config.session_cache_ttl,
        session_cache_size: config.session_cache_size,
        rotation: crate::rotation::Policy { grace: config.rotation_grace, reuse: config.rotation_reuse },
    };
    let listener = match server::bind(config.bind, config.reuse_port) {
        Ok(listener) => listener,
        Err(e) => return config_error(format!("cannot listen on {}: {e}", config.bind)),
    };
    let _purging = purge::spawn_background(db.clone(), config.purge_interval, config.purge_batch_size);
    // The bound address, not the configured one: with port 0 this is how callers learn the port.
    let address = listener.local_addr().unwrap_or(config.bind);
    tracing::info!(
        %address,
        backend = db.backend_name(),
        purge_interval_s = config.purge_interval.as_secs(),
        max_sessions_per_user = config.max_sessions_per_user,
        "authbridge listening"
    );
    if !config.session_cache_ttl.is_zero() {
        tracing::info!(
            ttl_ms = config.session_cache_ttl.as_millis() as u64,
            size = config.session_cache_size.get(),
            "session cache on{}",
            if db.backend_name() == "postgresql" {
                "; bypassed until its LISTEN connection is up"
            } else {
                "; only this instance's writes invalidate it, others' show after at most the TTL"
            }
        );
    }
    let service = app(AppState::new(db, settings));
    crate::metrics::spawn_upkeep();
    let options = ServerOptions {
        max_header_bytes: config.max_header_bytes,
        header_read_timeout: Duration::from_millis(config.header_read_timeout_ms),
        grace_period: config.shutdown_grace_period,
    };
    match server::serve(listener, service, &options, shutdown_signal).await {
        Ok(()) => {
            tracing::info!("shut down cleanly");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Ctrl-C or SIGTERM: the first one starts the graceful shutdown, a second one cuts it short.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
