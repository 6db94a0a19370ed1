//! `DATABASE_URL` as Prisma users write it, turned into what our drivers accept.

use std::path::PathBuf;

/// Where the data lives, chosen from the URL scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `postgres://` or `postgresql://`; `url` is what tokio-postgres accepts.
    Postgres { url: String, schema: Option<String> },
    /// `file:`, `sqlite:` or no URL at all.
    Sqlite { path: PathBuf },
}

/// The file used when no `DATABASE_URL` is configured, in the working directory.
pub const DEFAULT_SQLITE_FILE: &str = "authbridge.db";

/// Query parameters that tokio-postgres understands; everything else in a Prisma URL is a
/// Prisma client setting (`connection_limit`, `pool_timeout`, `pgbouncer`, ...) and is dropped.
const PG_DRIVER_PARAMS: &[&str] = &[
    "user",
    "password",
    "dbname",
    "options",
    "application_name",
    "sslmode",
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
    #[error("DATABASE_URL scheme {0:?} is not supported (use postgresql://, file: or sqlite://)")]
    UnsupportedScheme(String),
    #[error("in-memory SQLite cannot be shared by a connection pool: give a file path")]
    InMemorySqlite,
    #[error("DATABASE_URL names no SQLite file")]
    EmptySqlitePath,
}

/// Parses `DATABASE_URL`. Returns the target and the names (never the values) of the query
/// parameters that were dropped, so that the caller can log them.
pub fn parse(url: Option<&str>) -> Result<(Target, Vec<String>), UrlError> {
    let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
        return Ok((Target::Sqlite { path: PathBuf::from(DEFAULT_SQLITE_FILE) }, Vec::new()));
    };
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase()).ok_or(UrlError::Invalid)?;
    match scheme.as_str() {
        "postgres" | "postgresql" => parse_postgres(url),
        "file" | "sqlite" => parse_sqlite(url, &scheme).map(|t| (t, Vec::new())),
        _ => Err(UrlError::UnsupportedScheme(scheme)),
    }
}

fn parse_postgres(url: &str) -> Result<(Target, Vec<String>), UrlError> {
    let mut parsed = url::Url::parse(url).map_err(|_| UrlError::Invalid)?;
    let mut schema = None;
    let mut options: Option<String> = None;
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    for (key, value) in parsed.query_pairs() {
        match key.as_ref() {
            "schema" => schema = Some(value.into_owned()).filter(|s| !s.is_empty()),
            "options" => options = Some(value.into_owned()),
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
    Ok((Target::Postgres { url, schema }, dropped))
}

fn encode_component(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn parse_sqlite(url: &str, scheme: &str) -> Result<Target, UrlError> {
    let rest = &url[scheme.len() + 1..];
    let rest = rest.split_once('?').map_or(rest, |(path, _)| path);
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
    Ok(Target::Sqlite { path: PathBuf::from(decoded.as_ref()) })
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
    fn prisma_only_postgres_parameters_are_dropped_and_schema_sets_search_path() {
        let (target, dropped) = parse(Some(
            "postgresql://u:p%40ss@db:5432/app?schema=auth&connection_limit=5&sslmode=disable&pgbouncer=true",
        ))
        .unwrap();
        let Target::Postgres { url, schema } = target else { panic!("not postgres") };
        assert_eq!(schema.as_deref(), Some("auth"));
        assert_eq!(dropped, ["connection_limit", "pgbouncer"]);
        assert_eq!(url, "postgresql://u:p%40ss@db:5432/app?sslmode=disable&options=%2Dc%20search%5Fpath%3D%22auth%22");
    }
}
