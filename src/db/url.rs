//! `DATABASE_URL` as Prisma users write it, turned into what our drivers accept.

use std::path::{Path, PathBuf};

/// Where the data lives, chosen from the URL scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `postgres://` or `postgresql://`; `url` is what tokio-postgres accepts.
    Postgres { url: String, schema: Option<String> },
    /// `mysql://` or `mariadb://`; `url` is what mysql_async accepts.
    Mysql { url: String },
    /// `file:`, `sqlite:` or no URL at all.
    Sqlite { path: PathBuf },
}

impl Target {
    /// The backend's name, as logs and `/readyz` show it.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Target::Postgres { .. } => "postgresql",
            Target::Mysql { .. } => "mysql",
            Target::Sqlite { .. } => "sqlite",
        }
    }

    /// The cargo feature that compiles this backend in.
    pub fn feature(&self) -> &'static str {
        match self {
            Target::Postgres { .. } => "postgres",
            Target::Mysql { .. } => "mysql",
            Target::Sqlite { .. } => "sqlite",
        }
    }
}

/// The file used when no `DATABASE_URL` is configured, in the working directory.
pub const DEFAULT_SQLITE_FILE: &str = "authbridge.db";

/// Query parameters that tokio-postgres understands; everything else in a Prisma URL is a
/// Prisma client setting (`pool_timeout`, `socket_timeout`, `statement_cache_size`, ...) and is
/// dropped. `sslmode` is handled on its own (only the modes that need no TLS pass).
const PG_DRIVER_PARAMS: &[&str] = &[
    "user",
    "password",
    "dbname",
    "options",
    "application_name",
    "host",
    "hostaddr",
    "port",
    "connect_timeout",
    "tcp_user_timeout",
    "keepalives",
    "keepalives_idle",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("DATABASE_URL is not a valid URL")]
    Invalid,
    #[error("DATABASE_URL scheme {0:?} is not supported (use postgresql://, mysql://, file: or sqlite://)")]
    UnsupportedScheme(String),
    #[error("in-memory SQLite cannot be shared by a connection pool: give a file path")]
    InMemorySqlite,
    #[error("DATABASE_URL names no SQLite file")]
    EmptySqlitePath,
    #[error(
        "DATABASE_URL asks for sslmode={0}, but authbridge connects to PostgreSQL without TLS: use sslmode=disable \
         on a trusted network, or a local TLS proxy (stunnel, pgbouncer, cloud SQL proxy)"
    )]
    TlsUnsupported(String),
    #[error(
        "DATABASE_URL asks for TLS ({0}), but authbridge connects to MySQL without TLS: drop it on a trusted \
         network, or use a local TLS proxy (stunnel, cloud SQL proxy)"
    )]
    MysqlTlsUnsupported(String),
    #[error("DATABASE_URL must name a database (mysql://user:password@host:3306/database)")]
    MysqlNoDatabase,
    #[error("DATABASE_URL parameter {0} must be {1}")]
    InvalidParameter(&'static str, &'static str),
    #[error(
        "DATABASE_URL {given} is relative to the working directory, where no such file exists, but {twin} does: \
         Prisma 6 and older resolved SQLite paths against the schema's folder. Point DATABASE_URL at the file \
         Prisma uses (file:./{twin} from here, or an absolute path) so that both share one database"
    )]
    SqliteInSchemaFolder { given: String, twin: String },
}

/// `DATABASE_URL`, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub target: Target,
    /// Names (never values) of the Prisma-only parameters that were dropped, for the log.
    pub dropped: Vec<String>,
    /// Prisma's `connection_limit`: the pool size unless one is configured explicitly.
    pub connection_limit: Option<usize>,
    /// Prisma's `pgbouncer=true`: the database is reached through PgBouncer.
    pub pgbouncer: bool,
}

/// Parses `DATABASE_URL`. Returns the target and the names (never the values) of the query
/// parameters that were dropped, so that the caller can log them.
pub fn parse(url: Option<&str>) -> Result<(Target, Vec<String>), UrlError> {
    parse_url(url).map(|p| (p.target, p.dropped))
}

/// Parses `DATABASE_URL` as Prisma users write it, keeping the Prisma settings that matter here.
pub fn parse_url(url: Option<&str>) -> Result<Parsed, UrlError> {
    let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
        let target = Target::Sqlite { path: PathBuf::from(DEFAULT_SQLITE_FILE) };
        return Ok(Parsed { target, dropped: Vec::new(), connection_limit: None, pgbouncer: false });
    };
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase()).ok_or(UrlError::Invalid)?;
    match scheme.as_str() {
        "postgres" | "postgresql" => parse_postgres(url),
        "mysql" | "mariadb" => parse_mysql(url),
        "file" | "sqlite" => parse_sqlite(url, &scheme),
        _ => Err(UrlError::UnsupportedScheme(scheme)),
    }
}

fn parse_connection_limit(value: &str) -> Result<usize, UrlError> {
    value
        .parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(UrlError::InvalidParameter("connection_limit", "a positive integer"))
}

fn parse_postgres(url: &str) -> Result<Parsed, UrlError> {
    let mut parsed = url::Url::parse(url).map_err(|_| UrlError::Invalid)?;
    let mut schema = None;
    let mut options: Option<String> = None;
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    let mut connection_limit = None;
    let mut pgbouncer = false;
    for (key, value) in parsed.query_pairs() {
        match key.as_ref() {
            "schema" => schema = Some(value.into_owned()).filter(|s| !s.is_empty()),
            "options" => options = Some(value.into_owned()),
            "connection_limit" => connection_limit = Some(parse_connection_limit(&value)?),
            "pgbouncer" => {
                pgbouncer = match value.as_ref() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(UrlError::InvalidParameter("pgbouncer", "true or false")),
                }
            }
            // libpq's `allow` tries without TLS first, which is all we can do; tokio-postgres
            // does not know the word, so it becomes `disable`.
            "sslmode" => match value.as_ref() {
                "disable" | "allow" => kept.push(("sslmode".into(), "disable".into())),
                "prefer" => kept.push(("sslmode".into(), "prefer".into())),
                "require" | "verify-ca" | "verify-full" => return Err(UrlError::TlsUnsupported(value.into_owned())),
                _ => return Err(UrlError::InvalidParameter("sslmode", "disable, allow or prefer")),
            },
            k if PG_DRIVER_PARAMS.contains(&k) => kept.push((key.into_owned(), value.into_owned())),
            _ => dropped.push(key.into_owned()),
        }
    }
    // Prisma's `?schema=` selects the schema its queries qualify tables with; we get the same
    // effect with the session's search_path, set at connection start-up (no extra round trip).
    if let Some(schema) = &schema {
        let quoted = format!("\"{}\"", schema.replace('"', "\"\"")).replace('\\', "\\\\").replace(' ', "\\ ");
        let search_path = format!("-c search_path={quoted}");
        options = Some(match options {
            Some(existing) => format!("{existing} {search_path}"),
            None => search_path,
        });
    }
    if let Some(options) = options {
        kept.push(("options".into(), options));
    }
    // Built by hand: `query_pairs_mut` writes a space as `+`, which tokio-postgres does not decode.
    let query: Vec<String> =
        kept.iter().map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v))).collect();
    parsed.set_query(Some(&query.join("&")).filter(|q| !q.is_empty()).map(String::as_str));
    // tokio-postgres accepts both spellings; normalise so logs and errors look alike.
    let url = parsed.to_string();
    Ok(Parsed { target: Target::Postgres { url, schema }, dropped, connection_limit, pgbouncer })
}

/// `mysql://user:password@host:port/database?...` as Prisma reads it. The password stays inside
/// the URL handed to the driver and is never logged: errors name parameters, never values.
fn parse_mysql(url: &str) -> Result<Parsed, UrlError> {
    let mut parsed = url::Url::parse(url).map_err(|_| UrlError::Invalid)?;
    if parsed.path().trim_start_matches('/').is_empty() {
        return Err(UrlError::MysqlNoDatabase);
    }
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    let mut connection_limit = None;
    for (key, value) in parsed.query_pairs() {
        match key.as_ref() {
            "connection_limit" => connection_limit = Some(parse_connection_limit(&value)?),
            // A Unix socket path, which mysql_async calls the same.
            "socket" => kept.push(("socket".to_owned(), value.into_owned())),
            // Prisma's TLS settings: any of them means the server is meant to be reached over TLS.
            "sslcert" | "sslidentity" | "sslpassword" | "sslaccept" => {
                return Err(UrlError::MysqlTlsUnsupported(key.into_owned()));
            }
            // Not Prisma's, but what other MySQL clients write: modes that need no TLS pass.
            "sslmode" | "ssl-mode" => match value.to_ascii_lowercase().as_str() {
                "disable" | "disabled" | "prefer" | "preferred" => {}
                _ => return Err(UrlError::MysqlTlsUnsupported(format!("{key}={value}"))),
            },
            // Prisma's pool and socket settings (`connect_timeout`, `pool_timeout`,
            // `socket_timeout`, ...): dropped and logged by name, as on PostgreSQL. mysql_async
            // would refuse them.
            _ => dropped.push(key.into_owned()),
        }
    }
    let query: Vec<String> =
        kept.iter().map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v))).collect();
    parsed.set_query(Some(&query.join("&")).filter(|q| !q.is_empty()).map(String::as_str));
    // mysql_async only knows `mysql://`; MariaDB's own driver (Prisma's adapter-mariadb) also
    // takes `mariadb://`.
    let url = parsed.to_string();
    let url = match url.split_once("://") {
        Some((_, rest)) => format!("mysql://{rest}"),
        None => return Err(UrlError::Invalid),
    };
    Ok(Parsed { target: Target::Mysql { url }, dropped, connection_limit, pgbouncer: false })
}

fn encode_component(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn parse_sqlite(url: &str, scheme: &str) -> Result<Parsed, UrlError> {
    let rest = &url[scheme.len() + 1..];
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut connection_limit = None;
    let mut dropped = Vec::new();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "connection_limit" => connection_limit = Some(parse_connection_limit(&value)?),
            _ => dropped.push(key.into_owned()),
        }
    }
    // `sqlite:///abs/path.db` and `file:///abs/path.db` are absolute; `sqlite://dev.db` and
    // `file:./dev.db` are relative to the working directory.
    let path = match rest.strip_prefix("//") {
        Some(after) if after.starts_with('/') => after,
        Some(after) => after,
        None => rest,
    };
    if path.is_empty() {
        return Err(UrlError::EmptySqlitePath);
    }
    if path == ":memory:" || path.starts_with(":memory:") || url.contains("mode=memory") {
        return Err(UrlError::InMemorySqlite);
    }
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8().map_err(|_| UrlError::Invalid)?;
    let target = Target::Sqlite { path: PathBuf::from(decoded.as_ref()) };
    Ok(Parsed { target, dropped, connection_limit, pgbouncer: false })
}

/// A relative SQLite path is relative to the working directory (as Prisma 7, the driver adapters
/// and the Prisma CLI with a config file resolve it). Prisma 6's native engine resolved it against
/// the schema's folder instead, so the same `.env` line may name `./prisma/dev.db` there. When
/// our file does not exist but that one does, starting would create a second, empty database:
/// refuse instead.
/// `working_dir` is the directory relative paths are resolved against (the process's, `.`).
pub fn check_sqlite_path(path: &Path, working_dir: &Path) -> Result<(), UrlError> {
    if path.is_absolute() || working_dir.join(path).exists() {
        return Ok(());
    }
    let twin = Path::new("prisma").join(path.strip_prefix(".").unwrap_or(path));
    if working_dir.join(&twin).is_file() {
        return Err(UrlError::SqliteInSchemaFolder {
            given: format!("file:{}", path.display()),
            twin: twin.display().to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(path: &str) -> Target {
        Target::Sqlite { path: PathBuf::from(path) }
    }

    #[test]
    fn sqlite_urls_as_prisma_users_write_them() {
        assert_eq!(parse(None).unwrap().0, sqlite("authbridge.db"));
        assert_eq!(parse(Some("file:./dev.db")).unwrap().0, sqlite("./dev.db"));
        assert_eq!(parse(Some("file:dev.db?connection_limit=1")).unwrap().0, sqlite("dev.db"));
        assert_eq!(parse(Some("file:/var/lib/a.db")).unwrap().0, sqlite("/var/lib/a.db"));
        assert_eq!(parse(Some("sqlite:///var/lib/a.db")).unwrap().0, sqlite("/var/lib/a.db"));
        assert_eq!(parse(Some("sqlite://dev.db")).unwrap().0, sqlite("dev.db"));
        assert_eq!(parse(Some("file:my%20db.db")).unwrap().0, sqlite("my db.db"));
        assert_eq!(parse(Some("file::memory:")), Err(UrlError::InMemorySqlite));
        assert_eq!(parse(Some("mongodb://x")), Err(UrlError::UnsupportedScheme("mongodb".into())));
    }

    #[test]
    fn prisma_postgres_parameters_are_used_or_dropped_and_schema_sets_search_path() {
        let parsed = parse_url(Some(
            "postgresql://u:p%40ss@db:5432/app?schema=auth&connection_limit=5&sslmode=disable&pgbouncer=true&pool_timeout=3",
        ))
        .unwrap();
        let Target::Postgres { url, schema } = parsed.target else { panic!("not postgres") };
        assert_eq!(schema.as_deref(), Some("auth"));
        assert_eq!(parsed.dropped, ["pool_timeout"]);
        assert_eq!(parsed.connection_limit, Some(5));
        assert!(parsed.pgbouncer);
        assert_eq!(url, "postgresql://u:p%40ss@db:5432/app?sslmode=disable&options=%2Dc%20search%5Fpath%3D%22auth%22");
    }

    #[test]
    fn sslmode_that_needs_tls_is_refused_and_bad_parameters_are_named() {
        for mode in ["require", "verify-ca", "verify-full"] {
            let err = parse_url(Some(&format!("postgresql://u:secret@db/app?sslmode={mode}"))).unwrap_err();
            assert_eq!(err, UrlError::TlsUnsupported(mode.into()));
            assert!(!err.to_string().contains("secret"));
        }
        let allow = parse_url(Some("postgresql://db/app?sslmode=allow")).unwrap();
        assert!(matches!(allow.target, Target::Postgres { ref url, .. } if url.ends_with("?sslmode=disable")));
        let prefer = parse_url(Some("postgresql://db/app?sslmode=prefer")).unwrap();
        assert!(matches!(prefer.target, Target::Postgres { ref url, .. } if url.ends_with("?sslmode=prefer")));
        for bad in ["connection_limit=0", "connection_limit=many", "pgbouncer=yes", "sslmode=sometimes"] {
            let err = parse_url(Some(&format!("postgresql://db/app?{bad}"))).unwrap_err();
            assert!(matches!(err, UrlError::InvalidParameter(..)), "{bad}: {err}");
        }
        let sqlite = parse_url(Some("file:./dev.db?connection_limit=1&socket_timeout=3")).unwrap();
        assert_eq!((sqlite.connection_limit, sqlite.dropped), (Some(1), vec!["socket_timeout".to_owned()]));
        assert!(parse_url(Some("postgresql://db/app")).unwrap().connection_limit.is_none());
    }

    #[test]
    fn a_relative_sqlite_file_that_prisma_6_would_find_in_the_schema_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path();
        assert_eq!(check_sqlite_path(Path::new("./dev.db"), cwd), Ok(()), "nothing anywhere: a new database");
        std::fs::create_dir_all(cwd.join("prisma")).unwrap();
        std::fs::write(cwd.join("prisma/dev.db"), b"").unwrap();
        let err = check_sqlite_path(Path::new("./dev.db"), cwd).unwrap_err();
        assert!(err.to_string().contains("file:./prisma/dev.db"), "{err}");
        assert!(check_sqlite_path(Path::new("dev.db"), cwd).is_err());
        assert_eq!(check_sqlite_path(&cwd.join("dev.db"), cwd), Ok(()), "absolute paths mean what they say");
        std::fs::write(cwd.join("dev.db"), b"").unwrap();
        assert_eq!(check_sqlite_path(Path::new("./dev.db"), cwd), Ok(()), "the file exists where we look");
    }
}
