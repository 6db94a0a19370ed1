//! `DATABASE_URL` as Prisma users write it, turned into what our drivers accept.

use std::path::{Path, PathBuf};

/// Where the data lives, chosen from the URL scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `postgres://` or `postgresql://`; `url` is what tokio-postgres accepts (our TLS parameters
    /// are taken out and live in `tls`).
    Postgres {
        url: String,
        schema: Option<String>,
        tls: PgTls,
        /// Prisma's `pgbouncer=true`: reached through a transaction pooler (PgBouncer in
        /// `pool_mode = transaction`, Supavisor on port 6543), see `db::pg`.
        pgbouncer: bool,
    },
    /// `mysql://` or `mariadb://`; `url` is what mysql_async accepts (without the TLS
    /// parameters, which are in `tls`).
    Mysql { url: String, tls: MysqlTls },
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
/// dropped. The TLS parameters are read into [`PgTls`].
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
    /// TLS parameters that contradict each other (libpq's and Prisma's spellings mixed).
    #[error("DATABASE_URL: {0}")]
    PgTlsConflict(&'static str),
    /// Two TLS parameters of a MySQL URL that cannot both hold. Names parameters and modes,
    /// never `sslpassword`'s value.
    #[error("DATABASE_URL: {0}")]
    MysqlTlsConflict(String),
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
        return Ok(Parsed { target, dropped: Vec::new(), connection_limit: None });
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
    let mut tls = TlsParams::default();
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
            "channel_binding" => match value.as_ref() {
                "disable" | "prefer" | "require" => kept.push((key.into_owned(), value.into_owned())),
                _ => return Err(UrlError::InvalidParameter("channel_binding", "disable, prefer or require")),
            },
            "sslmode" => tls.mode = Some(SslMode::parse(&value)?),
            "sslrootcert" => tls.rootcert = Some(value.into_owned()),
            "sslcert" => tls.cert = Some(value.into_owned()),
            "sslkey" => tls.key = Some(value.into_owned()),
            "sslidentity" => tls.identity = Some(value.into_owned()),
            "sslpassword" => tls.password = Some(value.into_owned()),
            "sslaccept" => {
                tls.accept = Some(match value.as_ref() {
                    "strict" => true,
                    "accept_invalid_certs" => false,
                    _ => return Err(UrlError::InvalidParameter("sslaccept", "strict or accept_invalid_certs")),
                })
            }
            k if PG_DRIVER_PARAMS.contains(&k) => kept.push((key.into_owned(), value.into_owned())),
            _ => dropped.push(key.into_owned()),
        }
    }
    let tls = tls.resolve()?;
    // Prisma's `?schema=` selects the schema its queries qualify tables with; we get the same
    // effect with the session's search_path, set at connection start-up (no extra round trip).
    // A transaction pooler refuses the `options` start-up parameter (PgBouncer 1.18) and keeps no
    // session state, so there every unit of work sets it itself (`db::pg`).
    if let Some(schema) = schema.as_ref().filter(|_| !pgbouncer) {
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
    Ok(Parsed { target: Target::Postgres { url, schema, tls, pgbouncer }, dropped, connection_limit })
}

/// libpq's `sslmode`. Prisma accepts `disable`, `prefer` and `require` with the same meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Plain TCP only.
    Disable,
    /// Plain first; TLS only when the server refuses the plain connection.
    Allow,
    /// TLS when the server offers it, plain otherwise (libpq's and Prisma's default).
    #[default]
    Prefer,
    /// TLS or nothing.
    Require,
    /// TLS, and the server certificate must chain to `sslrootcert` (any host name).
    VerifyCa,
    /// TLS, the certificate must chain to `sslrootcert` and name the host.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<Self, UrlError> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => {
                return Err(UrlError::InvalidParameter(
                    "sslmode",
                    "disable, allow, prefer, require, verify-ca or verify-full",
                ));
            }
        })
    }
}

/// How much of the server certificate is checked when TLS is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Nothing but the handshake's own signatures: encrypted, not authenticated.
    Nothing,
    /// The chain up to a trusted root, not the host name (libpq's `verify-ca`).
    Chain,
    /// The chain and the host name (libpq's `verify-full`, Prisma's `sslaccept=strict`).
    Full,
}

/// Where the trusted roots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// A PEM file (libpq's `sslrootcert=<file>`, Prisma's `sslcert` without `sslkey`).
    File(PathBuf),
    /// The platform's roots (libpq's `sslrootcert=system`; what Prisma's `sslaccept=strict`
    /// trusts when no CA file is given).
    System,
}

/// The client certificate presented to the server.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientIdentity {
    /// libpq's `sslcert` + `sslkey`: PEM certificate (chain) and PEM key (PKCS#8, RSA or SEC1).
    Pem { cert: PathBuf, key: PathBuf },
    /// Prisma's `sslidentity` + `sslpassword`: a PKCS#12 file.
    Pkcs12 { path: PathBuf, password: String },
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientIdentity::Pem { cert, key } => f.debug_struct("Pem").field("cert", cert).field("key", key).finish(),
            ClientIdentity::Pkcs12 { path, .. } => {
                f.debug_struct("Pkcs12").field("path", path).field("password", &"<redacted>").finish()
            }
        }
    }
}

/// TLS to PostgreSQL, with libpq's meaning of every parameter, Prisma's spellings folded in.
///
/// - `sslmode` (default `prefer`, as libpq and Prisma): `disable`; `allow` (plain first, TLS
///   when the server refuses plain); `prefer` (TLS when offered, plain otherwise); `require`
///   (TLS or nothing); `verify-ca`; `verify-full`.
/// - A CA file (`sslrootcert=<file>`, or Prisma's `sslcert` without `sslkey`) makes every TLS
///   connection check the chain, as libpq does (so `require` with a CA is `verify-ca`); only
///   `verify-full` and `sslaccept=strict` also check the host name. `verify-ca`/`verify-full`
///   without a CA are refused (libpq looks for `~/.postgresql/root.crt`; authbridge reads no
///   home-directory defaults).
/// - `sslrootcert=system`: the platform's roots; it implies `verify-full` and refuses any weaker
///   `sslmode`, as libpq 16 does.
/// - Prisma's `sslaccept=strict` is `verify-full` (against the CA file, else the platform's
///   roots); `sslaccept=accept_invalid_certs` turns checking off and is refused together with
///   a CA file or `verify-*`. Without `sslaccept`, the `sslmode` decides (Prisma would not check
///   a CA file it was given; we do).
/// - Client certificates: `sslcert` + `sslkey` (PEM) or `sslidentity` + `sslpassword`
///   (PKCS#12), not both.
/// - `channel_binding` is passed to the driver (SCRAM-SHA-256-PLUS over TLS).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PgTls {
    pub mode: SslMode,
    pub roots: Option<Roots>,
    pub identity: Option<ClientIdentity>,
    /// Prisma's `sslaccept=strict`: the host name is checked whatever `sslmode` says.
    strict: bool,
}

impl PgTls {
    /// What is checked of the server's certificate when the connection uses TLS.
    pub fn verify(&self) -> Verify {
        match (self.mode, &self.roots) {
            (SslMode::VerifyFull, _) => Verify::Full,
            _ if self.strict => Verify::Full,
            (_, Some(_)) => Verify::Chain,
            (_, None) => Verify::Nothing,
        }
    }
}

/// The TLS parameters as written, before they are checked against each other.
#[derive(Default)]
struct TlsParams {
    mode: Option<SslMode>,
    rootcert: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    identity: Option<String>,
    password: Option<String>,
    /// Prisma's `sslaccept`: `Some(true)` for `strict`.
    accept: Option<bool>,
}

impl TlsParams {
    fn resolve(self) -> Result<PgTls, UrlError> {
        use UrlError::PgTlsConflict as Conflict;
        let password = self.password;
        let identity = match (self.cert.clone(), self.key, self.identity) {
            (_, Some(_), Some(_)) => {
                return Err(Conflict("sslidentity and sslcert+sslkey both name a client certificate: give one"));
            }
            (None, Some(_), None) => {
                return Err(Conflict("sslkey needs sslcert, the client certificate it belongs to"));
            }
            (Some(_), Some(_), None) if password.is_some() => {
                return Err(Conflict(
                    "an encrypted sslkey (sslpassword) is not supported: decrypt the key, or give a PKCS#12 file as \
                     sslidentity with sslpassword",
                ));
            }
            (Some(cert), Some(key), None) => Some(ClientIdentity::Pem { cert: cert.into(), key: key.into() }),
            (_, None, Some(path)) => {
                Some(ClientIdentity::Pkcs12 { path: path.into(), password: password.unwrap_or_default() })
            }
            (_, None, None) if password.is_some() => {
                return Err(Conflict(
                    "sslpassword is the password of the PKCS#12 file in sslidentity, which is missing",
                ));
            }
            (_, None, None) => None,
        };
        // Prisma's `sslcert` alone is the CA file; libpq's is the client certificate, with sslkey.
        let prisma_ca = self.cert.filter(|_| !matches!(identity, Some(ClientIdentity::Pem { .. })));
        let roots = match (self.rootcert, prisma_ca) {
            (Some(_), Some(_)) => {
                return Err(Conflict(
                    "sslcert without sslkey is Prisma's CA file, and sslrootcert names one too: give one \
                     (or add sslkey if sslcert is a client certificate)",
                ));
            }
            (Some(root), None) if root == "system" => Some(Roots::System),
            (Some(path), None) | (None, Some(path)) => Some(Roots::File(path.into())),
            (None, None) => None,
        };
        let strict = self.accept == Some(true);
        let mode = match (self.mode, &roots) {
            (Some(mode), _) => mode,
            // libpq 16: sslrootcert=system makes verify-full the default.
            (None, Some(Roots::System)) => SslMode::VerifyFull,
            (None, _) if strict => SslMode::Require,
            (None, _) => SslMode::default(),
        };
        if roots == Some(Roots::System) && mode != SslMode::VerifyFull {
            return Err(Conflict("sslrootcert=system needs sslmode=verify-full (libpq refuses weaker modes with it)"));
        }
        if mode == SslMode::Disable && (roots.is_some() || identity.is_some() || self.accept.is_some()) {
            return Err(Conflict("sslmode=disable, but certificates or sslaccept are given for TLS"));
        }
        match self.accept {
            Some(true) if !matches!(mode, SslMode::Require | SslMode::VerifyFull) => {
                return Err(Conflict(
                    "sslaccept=strict checks the certificate and host name: use it with sslmode=require or \
                     verify-full, or without sslmode",
                ));
            }
            Some(false) if roots.is_some() || matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull) => {
                return Err(Conflict(
                    "sslaccept=accept_invalid_certs turns certificate checks off, but sslmode or a CA file asks for them",
                ));
            }
            _ => {}
        }
        let roots = match roots {
            None if strict => Some(Roots::System),
            None if matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull) => {
                return Err(Conflict(
                    "sslmode=verify-ca and verify-full need sslrootcert: a PEM file of the CA, or system for the \
                     platform's roots",
                ));
            }
            roots => roots,
        };
        Ok(PgTls { mode, roots, identity, strict })
    }
}

/// TLS to MySQL / MariaDB, as `DATABASE_URL` asks for it.
///
/// Prisma's own parameters, with the meaning Prisma's MySQL connector gives them:
/// - `sslcert=<path>`: the CA certificate(s) (PEM; a bundle is fine) the server's certificate must
///   chain to. They replace the system's CA certificates.
/// - `sslidentity=<path>` and `sslpassword=<password>`: a PKCS#12 client identity (certificate
///   and RSA key) for a user created `REQUIRE X509`; no `sslpassword` for a file without one.
/// - `sslaccept=strict`: verify the certificate chain and the host name (against the system's CA
///   certificates when there is no `sslcert`); `sslaccept=accept_invalid_certs`: encrypt, verify
///   nothing.
///
/// Any of them turns TLS on, and without `sslaccept` Prisma verifies nothing
/// (`accept_invalid_certs`); so does authbridge, so that one URL means the same to both. A
/// `sslcert` is then unused, as in Prisma, and start-up warns that nothing is verified.
///
/// `sslmode` (or `ssl-mode`), as other MySQL clients write it, case-insensitive: `DISABLED` no
/// TLS; `PREFERRED` TLS when the server offers it, verifying nothing, plain otherwise; `REQUIRED`
/// TLS, verifying nothing; `VERIFY_CA` TLS with the chain verified (the host name is meant to be
/// left out, but mysql_async 0.36's rustls support checks it all the same, so a name the
/// certificate does not hold is refused, with a line that says so); `VERIFY_IDENTITY` TLS with
/// chain and host name verified. libpq's words (`disable`, `prefer`, `require`, `verify-ca`,
/// `verify-full`) mean the same.
///
/// Both forms in one URL must agree: `sslaccept=strict` goes only with `VERIFY_IDENTITY`,
/// `sslaccept=accept_invalid_certs` only with `REQUIRED`, and `sslcert` / `sslidentity` only with
/// a mode that requires TLS (which then decides what is verified). Refused as well: a TLS
/// parameter given twice with different values, an unknown `sslaccept` (Prisma would quietly
/// verify nothing), `sslpassword` without `sslidentity`, and TLS with `socket=` (mysql_async never
/// encrypts a Unix socket). No TLS parameter at all means no TLS, as in Prisma.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MysqlTls {
    pub mode: MysqlSslMode,
    /// `sslcert`: the CA certificates to verify the server with, instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// `sslidentity` + `sslpassword`.
    pub identity: Option<Pkcs12Identity>,
}

impl MysqlTls {
    /// What start-up should warn about: TLS that verifies nothing.
    pub fn warning(&self) -> Option<String> {
        if !matches!(self.mode, MysqlSslMode::Preferred | MysqlSslMode::Required) {
            return None;
        }
        let unused = if self.ca_file.is_some() { ", so sslcert is not used" } else { "" };
        Some(format!(
            "MySQL TLS verifies nothing here (sslmode {}, Prisma's default without sslaccept){unused}: add \
             sslaccept=strict (or sslmode=VERIFY_IDENTITY) to DATABASE_URL to verify the server",
            self.mode.name()
        ))
    }
}

/// How much TLS a MySQL connection uses and what it verifies, in MySQL's `--ssl-mode` terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MysqlSslMode {
    /// No TLS.
    #[default]
    Disabled,
    /// TLS when the server offers it, verifying nothing.
    Preferred,
    /// TLS, verifying nothing.
    Required,
    /// TLS, the certificate chain verified; the host name too, as mysql_async cannot skip it.
    VerifyCa,
    /// TLS, chain and host name verified.
    VerifyIdentity,
}

impl MysqlSslMode {
    /// `sslmode` / `ssl-mode` values (compared case-insensitively): MySQL's, then libpq's.
    const WORDS: [(&'static str, MysqlSslMode); 10] = [
        ("disabled", Self::Disabled),
        ("preferred", Self::Preferred),
        ("required", Self::Required),
        ("verify_ca", Self::VerifyCa),
        ("verify_identity", Self::VerifyIdentity),
        ("disable", Self::Disabled),
        ("prefer", Self::Preferred),
        ("require", Self::Required),
        ("verify-ca", Self::VerifyCa),
        ("verify-full", Self::VerifyIdentity),
    ];

    fn parse(value: &str) -> Option<Self> {
        Self::WORDS.iter().find(|(word, _)| value.eq_ignore_ascii_case(word)).map(|&(_, mode)| mode)
    }

    /// MySQL's name for the mode, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Disabled => "DISABLED",
            Self::Preferred => "PREFERRED",
            Self::Required => "REQUIRED",
            Self::VerifyCa => "VERIFY_CA",
            Self::VerifyIdentity => "VERIFY_IDENTITY",
        }
    }

    /// The connection fails rather than go unencrypted.
    pub fn requires_tls(self) -> bool {
        matches!(self, Self::Required | Self::VerifyCa | Self::VerifyIdentity)
    }

    /// The server's certificate chain is verified.
    pub fn verifies(self) -> bool {
        matches!(self, Self::VerifyCa | Self::VerifyIdentity)
    }
}

/// `sslidentity` and `sslpassword`. The password is never printed, not even by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Pkcs12Identity {
    pub path: PathBuf,
    pub password: String,
}

impl std::fmt::Debug for Pkcs12Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs12Identity").field("path", &self.path).field("password", &"<redacted>").finish()
    }
}

/// The TLS parameters of a MySQL URL as written, before they are checked against each other.
#[derive(Default)]
struct MysqlTlsParams {
    sslmode: Option<String>,
    sslaccept: Option<String>,
    sslcert: Option<String>,
    sslidentity: Option<String>,
    sslpassword: Option<String>,
}

impl MysqlTlsParams {
    /// Takes `key` if it is a TLS parameter; `Ok(false)` otherwise.
    fn take(&mut self, key: &str, value: &str) -> Result<bool, UrlError> {
        let (name, slot) = match key {
            "sslmode" | "ssl-mode" => ("sslmode", &mut self.sslmode),
            "sslaccept" => ("sslaccept", &mut self.sslaccept),
            "sslcert" => ("sslcert", &mut self.sslcert),
            "sslidentity" => ("sslidentity", &mut self.sslidentity),
            "sslpassword" => ("sslpassword", &mut self.sslpassword),
            _ => return Ok(false),
        };
        // Two spellings of one mode (`REQUIRED`, `required`, `require`) say the same thing.
        let same = |earlier: &str| match name {
            "sslmode" => {
                MysqlSslMode::parse(earlier).is_some() && MysqlSslMode::parse(earlier) == MysqlSslMode::parse(value)
            }
            _ => earlier == value,
        };
        match slot {
            Some(earlier) if !same(earlier) => {
                Err(UrlError::MysqlTlsConflict(format!("{name} is given twice, with different values")))
            }
            _ => {
                *slot = Some(value.to_owned());
                Ok(true)
            }
        }
    }

    fn resolve(self, socket: bool) -> Result<MysqlTls, UrlError> {
        let conflict = |text: String| Err(UrlError::MysqlTlsConflict(text));
        let mode = match self.sslmode.as_deref() {
            Some(value) => Some(MysqlSslMode::parse(value).ok_or(UrlError::InvalidParameter(
                "sslmode",
                "DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY",
            ))?),
            None => None,
        };
        let accept = match self.sslaccept.as_deref() {
            Some("strict") => Some(MysqlSslMode::VerifyIdentity),
            Some("accept_invalid_certs") => Some(MysqlSslMode::Required),
            Some(_) => return Err(UrlError::InvalidParameter("sslaccept", "strict or accept_invalid_certs")),
            None => None,
        };
        if self.sslpassword.is_some() && self.sslidentity.is_none() {
            return conflict("sslpassword is given without sslidentity, the PKCS#12 file it opens".into());
        }
        let material = [("sslcert", &self.sslcert), ("sslidentity", &self.sslidentity)]
            .into_iter()
            .find_map(|(name, value)| value.as_ref().map(|_| name));
        let mode = match (mode, accept) {
            (Some(mode), Some(accept)) if mode != accept => {
                return conflict(format!(
                    "sslaccept={} and sslmode={} disagree (sslaccept=strict is VERIFY_IDENTITY, \
                     sslaccept=accept_invalid_certs is REQUIRED): keep one of them",
                    self.sslaccept.as_deref().unwrap_or_default(),
                    mode.name()
                ));
            }
            (Some(mode), _) => match material {
                Some(name) if !mode.requires_tls() => {
                    return conflict(format!(
                        "{name} asks for TLS but sslmode={} does not require it: use REQUIRED, VERIFY_CA or \
                         VERIFY_IDENTITY, or drop {name}",
                        mode.name()
                    ));
                }
                _ => mode,
            },
            (None, Some(accept)) => accept,
            // Prisma: any TLS parameter turns TLS on, verifying nothing unless told to.
            (None, None) if material.is_some() => MysqlSslMode::Required,
            (None, None) => MysqlSslMode::Disabled,
        };
        if socket && mode != MysqlSslMode::Disabled {
            return conflict(format!(
                "TLS (sslmode {}) cannot protect a Unix socket (socket=): a socket is local, drop the TLS parameters",
                mode.name()
            ));
        }
        Ok(MysqlTls {
            mode,
            ca_file: self.sslcert.map(PathBuf::from),
            identity: self.sslidentity.map(|path| Pkcs12Identity {
                path: PathBuf::from(path),
                password: self.sslpassword.unwrap_or_default(),
            }),
        })
    }
}

/// `mysql://user:password@host:port/database?...` as Prisma reads it. The password stays inside
/// the URL handed to the driver and is never logged: errors name parameters, never values.
/// The TLS parameters are taken out into [`MysqlTls`].
fn parse_mysql(url: &str) -> Result<Parsed, UrlError> {
    let mut parsed = url::Url::parse(url).map_err(|_| UrlError::Invalid)?;
    if parsed.path().trim_start_matches('/').is_empty() {
        return Err(UrlError::MysqlNoDatabase);
    }
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    let mut connection_limit = None;
    let mut tls = MysqlTlsParams::default();
    for (key, value) in parsed.query_pairs() {
        if tls.take(&key, &value)? {
            continue;
        }
        match key.as_ref() {
            "connection_limit" => connection_limit = Some(parse_connection_limit(&value)?),
            // A Unix socket path, which mysql_async calls the same.
            "socket" => kept.push(("socket".to_owned(), value.into_owned())),
            // Prisma's pool and socket settings (`connect_timeout`, `pool_timeout`,
            // `socket_timeout`, ...): dropped and logged by name, as on PostgreSQL. mysql_async
            // would refuse them.
            _ => dropped.push(key.into_owned()),
        }
    }
    let tls = tls.resolve(kept.iter().any(|(k, _)| k == "socket"))?;
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
    Ok(Parsed { target: Target::Mysql { url, tls }, dropped, connection_limit })
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
    Ok(Parsed { target, dropped, connection_limit })
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

    /// The PostgreSQL target of `url`: driver URL, schema, TLS, pgbouncer.
    fn pg(url: &str) -> (String, Option<String>, PgTls, bool) {
        match parse_url(Some(url)).unwrap_or_else(|e| panic!("{url}: {e}")).target {
            Target::Postgres { url, schema, tls, pgbouncer } => (url, schema, tls, pgbouncer),
            other => panic!("{url}: not PostgreSQL: {other:?}"),
        }
    }

    fn pg_err(url: &str) -> UrlError {
        let err = parse_url(Some(url)).unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        assert!(!err.to_string().contains("  "), "one line, no layout spaces: {err}");
        err
    }

    #[test]
    fn prisma_postgres_parameters_are_used_or_dropped_and_schema_sets_search_path() {
        let parsed = parse_url(Some(
            "postgresql://u:p%40ss@db:5432/app?schema=auth&connection_limit=5&sslmode=disable&pool_timeout=3",
        ))
        .unwrap();
        let Target::Postgres { url, schema, tls, pgbouncer } = parsed.target else { panic!("not postgres") };
        assert_eq!(schema.as_deref(), Some("auth"));
        assert_eq!(parsed.dropped, ["pool_timeout"]);
        assert_eq!(parsed.connection_limit, Some(5));
        assert!(!pgbouncer);
        assert_eq!(tls.mode, SslMode::Disable);
        assert_eq!(url, "postgresql://u:p%40ss@db:5432/app?options=%2Dc%20search%5Fpath%3D%22auth%22");
    }

    #[test]
    fn behind_pgbouncer_the_schema_is_not_a_startup_option() {
        // PgBouncer 1.18 refuses the `options` start-up parameter: `db::pg` sets search_path in
        // every transaction instead.
        let (url, schema, _, pgbouncer) = pg("postgresql://u:p@db:6543/app?schema=auth&pgbouncer=true");
        assert!(pgbouncer);
        assert_eq!(schema.as_deref(), Some("auth"));
        assert_eq!(url, "postgresql://u:p@db:6543/app");
    }

    #[test]
    fn every_sslmode_means_what_it_means_in_libpq() {
        let cases = [
            ("", SslMode::Prefer, Verify::Nothing),
            ("sslmode=disable", SslMode::Disable, Verify::Nothing),
            ("sslmode=allow", SslMode::Allow, Verify::Nothing),
            ("sslmode=prefer", SslMode::Prefer, Verify::Nothing),
            ("sslmode=require", SslMode::Require, Verify::Nothing),
            // libpq: a CA file makes require (and prefer, allow) check the chain.
            ("sslmode=require&sslrootcert=/ca.pem", SslMode::Require, Verify::Chain),
            ("sslmode=prefer&sslrootcert=/ca.pem", SslMode::Prefer, Verify::Chain),
            ("sslmode=verify-ca&sslrootcert=/ca.pem", SslMode::VerifyCa, Verify::Chain),
            ("sslmode=verify-full&sslrootcert=/ca.pem", SslMode::VerifyFull, Verify::Full),
            ("sslmode=verify-full&sslrootcert=system", SslMode::VerifyFull, Verify::Full),
            // libpq 16: sslrootcert=system alone means verify-full.
            ("sslrootcert=system", SslMode::VerifyFull, Verify::Full),
            // Prisma's spellings.
            ("sslaccept=strict", SslMode::Require, Verify::Full),
            ("sslmode=require&sslaccept=strict", SslMode::Require, Verify::Full),
            ("sslmode=require&sslaccept=accept_invalid_certs", SslMode::Require, Verify::Nothing),
            ("sslmode=require&sslcert=/ca.pem", SslMode::Require, Verify::Chain),
            ("sslcert=/ca.pem&sslaccept=strict", SslMode::Require, Verify::Full),
        ];
        for (query, mode, verify) in cases {
            let (url, _, tls, _) = pg(&format!("postgresql://u:secret@db/app?{query}"));
            assert_eq!((tls.mode, tls.verify()), (mode, verify), "{query}");
            assert!(!url.contains("ssl"), "{query}: TLS parameters are ours, not the driver's: {url}");
        }
        let (_, _, tls, _) = pg("postgresql://db/app?sslaccept=strict");
        assert_eq!(tls.roots, Some(Roots::System), "Prisma's strict trusts the platform's roots without a CA file");
        let (_, _, tls, _) = pg("postgresql://db/app?sslmode=require&sslcert=./ca.pem");
        assert_eq!(tls.roots, Some(Roots::File("./ca.pem".into())), "Prisma's sslcert alone is the CA");
        assert_eq!(tls.identity, None);
    }

    #[test]
    fn client_certificates_in_libpq_and_prisma_form() {
        let (_, _, tls, _) =
            pg("postgresql://u@db/app?sslmode=verify-full&sslrootcert=/ca.pem&sslcert=/c.pem&sslkey=/k.pem");
        assert_eq!(tls.identity, Some(ClientIdentity::Pem { cert: "/c.pem".into(), key: "/k.pem".into() }));
        assert_eq!(
            tls.roots,
            Some(Roots::File("/ca.pem".into())),
            "with sslkey, sslcert is libpq's client certificate"
        );
        let (_, _, tls, _) =
            pg("postgresql://u@db/app?sslmode=require&sslcert=/ca.pem&sslidentity=/id.p12&sslpassword=secret");
        assert_eq!(tls.identity, Some(ClientIdentity::Pkcs12 { path: "/id.p12".into(), password: "secret".into() }));
        assert_eq!(tls.roots, Some(Roots::File("/ca.pem".into())));
        assert!(!format!("{tls:?}").contains("secret"), "the PKCS#12 password never appears in Debug output");
    }

    #[test]
    fn contradicting_tls_parameters_are_refused_with_a_clear_error() {
        let cases = [
            ("sslmode=sometimes", "sslmode"),
            ("sslaccept=maybe", "sslaccept"),
            ("channel_binding=always", "channel_binding"),
            ("sslmode=verify-full", "need sslrootcert"),
            ("sslmode=verify-ca", "need sslrootcert"),
            ("sslmode=require&sslrootcert=system", "sslrootcert=system needs sslmode=verify-full"),
            ("sslmode=disable&sslrootcert=/ca.pem", "sslmode=disable"),
            ("sslmode=disable&sslaccept=strict", "sslmode=disable"),
            ("sslmode=prefer&sslaccept=strict", "sslaccept=strict"),
            ("sslmode=verify-ca&sslrootcert=/ca.pem&sslaccept=strict", "sslaccept=strict"),
            ("sslmode=verify-full&sslrootcert=/ca.pem&sslaccept=accept_invalid_certs", "accept_invalid_certs"),
            ("sslcert=/ca.pem&sslaccept=accept_invalid_certs", "accept_invalid_certs"),
            ("sslcert=/ca.pem&sslrootcert=/other.pem", "sslrootcert names one too"),
            ("sslkey=/k.pem", "sslkey needs sslcert"),
            ("sslcert=/c.pem&sslkey=/k.pem&sslidentity=/id.p12", "give one"),
            ("sslcert=/c.pem&sslkey=/k.pem&sslpassword=secret", "encrypted sslkey"),
            ("sslpassword=secret", "sslidentity"),
        ];
        for (query, message) in cases {
            let err = pg_err(&format!("postgresql://u:secret@db/app?{query}"));
            assert!(err.to_string().contains(message), "{query}: {err}");
        }
        let (url, ..) = pg("postgresql://db/app?sslmode=require&channel_binding=require");
        // Keys are percent-encoded like values; tokio-postgres decodes both.
        assert!(url.ends_with("?channel%5Fbinding=require"), "the driver does channel binding: {url}");
        for bad in ["connection_limit=0", "connection_limit=many", "pgbouncer=yes"] {
            let err = pg_err(&format!("postgresql://db/app?{bad}"));
            assert!(matches!(err, UrlError::InvalidParameter(..)), "{bad}: {err}");
        }
        let sqlite = parse_url(Some("file:./dev.db?connection_limit=1&socket_timeout=3")).unwrap();
        assert_eq!((sqlite.connection_limit, sqlite.dropped), (Some(1), vec!["socket_timeout".to_owned()]));
        assert!(parse_url(Some("postgresql://db/app")).unwrap().connection_limit.is_none());
    }

    /// The URL forms of docs/managed-databases.md, as each provider's dashboard gives them.
    #[test]
    fn managed_postgres_urls_from_the_docs() {
        // Neon, direct.
        let (url, _, tls, pgbouncer) = pg(
            "postgresql://alex:AbC123dEf@ep-cool-darkness-123456.us-east-2.aws.neon.tech/neondb?sslmode=require&channel_binding=require",
        );
        assert_eq!((tls.mode, tls.verify(), pgbouncer), (SslMode::Require, Verify::Nothing, false));
        assert_eq!(
            url,
            "postgresql://alex:AbC123dEf@ep-cool-darkness-123456.us-east-2.aws.neon.tech/neondb?channel%5Fbinding=require"
        );
        // Neon, pooled (PgBouncer in transaction mode behind the -pooler host).
        let (url, _, tls, pgbouncer) = pg(
            "postgresql://alex:AbC123dEf@ep-cool-darkness-123456-pooler.us-east-2.aws.neon.tech/neondb?sslmode=require&channel_binding=require&pgbouncer=true",
        );
        assert_eq!((tls.mode, pgbouncer), (SslMode::Require, true));
        assert!(url.ends_with("-pooler.us-east-2.aws.neon.tech/neondb?channel%5Fbinding=require"), "{url}");
        // Neon with certificate checks against the platform's roots.
        let (_, _, tls, _) = pg(
            "postgresql://alex:AbC123dEf@ep-cool-darkness-123456.us-east-2.aws.neon.tech/neondb?sslmode=verify-full&sslrootcert=system",
        );
        assert_eq!((tls.verify(), tls.roots), (Verify::Full, Some(Roots::System)));
        // Supabase, direct (IPv6) and through Supavisor in session mode (5432): TLS as offered.
        let (_, _, tls, pgbouncer) =
            pg("postgresql://postgres:secret@db.abcdefghijklmnopqrst.supabase.co:5432/postgres?sslmode=require");
        assert_eq!((tls.mode, pgbouncer), (SslMode::Require, false));
        // Supabase through Supavisor in transaction mode (6543).
        let parsed = parse_url(Some(
            "postgresql://postgres.abcdefghijklmnopqrst:secret@aws-0-eu-central-1.pooler.supabase.com:6543/postgres?pgbouncer=true&connection_limit=1&sslmode=require",
        ))
        .unwrap();
        assert_eq!(parsed.connection_limit, Some(1));
        let Target::Postgres { tls, pgbouncer, url, .. } = parsed.target else { panic!("not postgres") };
        assert_eq!((tls.mode, pgbouncer), (SslMode::Require, true));
        assert!(url.starts_with(
            "postgresql://postgres.abcdefghijklmnopqrst:secret@aws-0-eu-central-1.pooler.supabase.com:6543/"
        ));
        // RDS / Aurora with the RDS CA bundle.
        let (url, _, tls, _) = pg(
            "postgresql://app:secret@mydb.cluster-c9akciq32.eu-west-1.rds.amazonaws.com:5432/app?sslmode=verify-full&sslrootcert=/etc/ssl/rds/global-bundle.pem",
        );
        assert_eq!(
            (tls.mode, tls.verify(), tls.roots),
            (SslMode::VerifyFull, Verify::Full, Some(Roots::File("/etc/ssl/rds/global-bundle.pem".into())))
        );
        assert_eq!(url, "postgresql://app:secret@mydb.cluster-c9akciq32.eu-west-1.rds.amazonaws.com:5432/app");
    }

    #[test]
    fn prisma_mysql_urls_keep_what_mysql_async_needs() {
        let parsed = parse_url(Some(
            "mysql://u:p%40ss@db:3306/app?connection_limit=5&pool_timeout=3&socket_timeout=1&sslmode=disabled",
        ))
        .unwrap();
        assert_eq!(
            parsed.target,
            Target::Mysql { url: "mysql://u:p%40ss@db:3306/app".into(), tls: MysqlTls::default() }
        );
        assert_eq!(
            (parsed.connection_limit, parsed.dropped),
            (Some(5), vec!["pool_timeout".into(), "socket_timeout".into()])
        );
        let mariadb = parse_url(Some("mariadb://u@db/app?socket=/run/mysqld/mysqld.sock")).unwrap();
        assert_eq!(
            mariadb.target,
            Target::Mysql {
                url: "mysql://u@db/app?socket=%2Frun%2Fmysqld%2Fmysqld%2Esock".into(),
                tls: MysqlTls::default()
            }
        );
        assert_eq!(parse_url(Some("mysql://u:secret@db:3306")), Err(UrlError::MysqlNoDatabase));
        assert_eq!(
            parse_url(Some("mysql://db/app?connection_limit=0")).unwrap_err(),
            UrlError::InvalidParameter("connection_limit", "a positive integer")
        );
    }

    /// The URL handed to mysql_async (no TLS parameter left in it) and the TLS settings.
    fn mysql(url: &str) -> (String, MysqlTls) {
        match parse_url(Some(url)).unwrap_or_else(|e| panic!("{url}: {e}")).target {
            Target::Mysql { url, tls } => (url, tls),
            other => panic!("{url}: {other:?}"),
        }
    }

    fn tls(mode: MysqlSslMode, ca_file: Option<&str>) -> MysqlTls {
        MysqlTls { mode, ca_file: ca_file.map(PathBuf::from), identity: None }
    }

    /// The URL forms the managed services hand out, as authbridge reads them.
    #[test]
    fn managed_mysql_url_forms() {
        // PlanetScale's Prisma URL: TLS, chain and host name checked against the system's CAs.
        assert_eq!(
            mysql("mysql://k2x9user:pscale_pw_AbC123@aws.connect.psdb.cloud/authdb?sslaccept=strict"),
            (
                "mysql://k2x9user:pscale_pw_AbC123@aws.connect.psdb.cloud/authdb".into(),
                tls(MysqlSslMode::VerifyIdentity, None)
            )
        );
        // RDS / Aurora MySQL with the RDS CA bundle; Azure Database for MySQL with its root CA.
        assert_eq!(
            mysql(
                "mysql://admin:pw@app.c9akciq32.eu-west-1.rds.amazonaws.com:3306/app?sslcert=/etc/ssl/rds/global-bundle.pem&sslaccept=strict"
            ),
            (
                "mysql://admin:pw@app.c9akciq32.eu-west-1.rds.amazonaws.com:3306/app".into(),
                tls(MysqlSslMode::VerifyIdentity, Some("/etc/ssl/rds/global-bundle.pem"))
            )
        );
        assert_eq!(
            mysql("mysql://app:pw@app.mysql.database.azure.com:3306/app?sslcert=./DigiCertGlobalRootG2.crt.pem&sslmode=VERIFY_IDENTITY").1,
            tls(MysqlSslMode::VerifyIdentity, Some("./DigiCertGlobalRootG2.crt.pem"))
        );
        // DigitalOcean / Aiven hand out `ssl-mode=REQUIRED`.
        assert_eq!(
            mysql("mysql://doadmin:pw@db-mysql-fra1-0001.b.db.ondigitalocean.com:25060/defaultdb?ssl-mode=REQUIRED").1,
            tls(MysqlSslMode::Required, None)
        );
    }

    /// Prisma's parameters: any of them turns TLS on, verifying nothing unless `sslaccept=strict`.
    #[test]
    fn prisma_mysql_tls_parameters() {
        let (url, only_ca) = mysql("mysql://u:pw@db/app?sslcert=certs/ca.pem&connection_limit=2");
        assert_eq!(url, "mysql://u:pw@db/app");
        assert_eq!(only_ca, tls(MysqlSslMode::Required, Some("certs/ca.pem")));
        assert!(only_ca.warning().is_some_and(|w| w.contains("sslcert is not used")), "{:?}", only_ca.warning());
        let strict = mysql("mysql://u:pw@db/app?sslcert=certs/ca.pem&sslaccept=strict").1;
        assert_eq!(strict, tls(MysqlSslMode::VerifyIdentity, Some("certs/ca.pem")));
        assert_eq!(strict.warning(), None);
        let lax = mysql("mysql://u:pw@db/app?sslaccept=accept_invalid_certs").1;
        assert_eq!(lax, tls(MysqlSslMode::Required, None));
        assert!(lax.warning().is_some_and(|w| w.contains("sslaccept=strict")));
        assert_eq!(mysql("mysql://u:pw@db/app").1.warning(), None);

        let (url, identity) =
            mysql("mysql://u@db/app?sslidentity=%2Fkeys%2Fclient.p12&sslpassword=p12-SECRET&sslaccept=strict");
        assert_eq!(url, "mysql://u@db/app", "no TLS parameter, and no sslpassword, reaches the driver URL");
        assert_eq!(identity.mode, MysqlSslMode::VerifyIdentity);
        let client = identity.identity.clone().expect("an identity");
        assert_eq!((client.path.to_str(), client.password.as_str()), (Some("/keys/client.p12"), "p12-SECRET"));
        assert!(!format!("{identity:?}").contains("p12-SECRET"), "Debug hides the password");
        let no_password = mysql("mysql://u@db/app?sslidentity=client.p12").1;
        assert_eq!(no_password.mode, MysqlSslMode::Required);
        assert_eq!(no_password.identity.map(|i| i.password), Some(String::new()));
    }

    #[test]
    fn sslmode_reads_mysqls_and_libpqs_words() {
        for (words, mode) in [
            (&["DISABLED", "disabled", "disable"][..], MysqlSslMode::Disabled),
            (&["PREFERRED", "Preferred", "prefer"], MysqlSslMode::Preferred),
            (&["REQUIRED", "required", "require"], MysqlSslMode::Required),
            (&["VERIFY_CA", "verify_ca", "verify-ca"], MysqlSslMode::VerifyCa),
            (&["VERIFY_IDENTITY", "verify_identity", "verify-full"], MysqlSslMode::VerifyIdentity),
        ] {
            for word in words {
                assert_eq!(mysql(&format!("mysql://db/app?sslmode={word}")).1, tls(mode, None), "sslmode={word}");
                assert_eq!(mysql(&format!("mysql://db/app?ssl-mode={word}")).1, tls(mode, None), "ssl-mode={word}");
            }
        }
        assert_eq!(
            mysql("mysql://db/app?sslmode=VERIFY_CA&sslcert=ca.pem").1,
            tls(MysqlSslMode::VerifyCa, Some("ca.pem")),
            "sslcert is the CA VERIFY_CA checks against"
        );
        assert!(mysql("mysql://db/app?sslmode=PREFERRED").1.warning().is_some());
    }

    /// A URL mixing Prisma's parameters and `sslmode` must say one thing; what cannot hold is a
    /// configuration error naming the parameters, never `sslpassword`'s value.
    #[test]
    fn contradicting_mysql_tls_parameters_are_refused() {
        for agreeing in [
            "sslaccept=strict&sslmode=VERIFY_IDENTITY",
            "sslaccept=accept_invalid_certs&ssl-mode=required",
            "sslcert=ca.pem&sslmode=REQUIRED",
            "sslidentity=c.p12&sslpassword=SECRET-p12&sslmode=VERIFY_IDENTITY",
            "sslmode=REQUIRED&ssl-mode=required",
            "sslcert=ca.pem&sslcert=ca.pem",
        ] {
            parse_url(Some(&format!("mysql://u:SECRET-db@db/app?{agreeing}")))
                .unwrap_or_else(|e| panic!("{agreeing}: {e}"));
        }
        for (conflicting, expected) in [
            ("sslaccept=strict&sslmode=REQUIRED", "sslaccept=strict and sslmode=REQUIRED disagree"),
            ("sslaccept=strict&sslmode=VERIFY_CA", "sslaccept=strict and sslmode=VERIFY_CA disagree"),
            ("sslaccept=accept_invalid_certs&sslmode=VERIFY_IDENTITY", "disagree"),
            ("sslaccept=strict&sslmode=DISABLED", "disagree"),
            ("sslcert=ca.pem&sslmode=DISABLED", "sslcert asks for TLS but sslmode=DISABLED"),
            ("sslcert=ca.pem&sslmode=PREFERRED", "sslcert asks for TLS but sslmode=PREFERRED"),
            ("sslidentity=c.p12&sslpassword=SECRET-p12&ssl-mode=disabled", "sslidentity asks for TLS"),
            ("sslpassword=SECRET-p12", "sslpassword is given without sslidentity"),
            ("sslmode=REQUIRED&ssl-mode=DISABLED", "sslmode is given twice"),
            ("sslpassword=SECRET-p12&sslidentity=c.p12&sslpassword=SECRET-p13", "sslpassword is given twice"),
            ("sslaccept=strict&socket=/run/mysqld/mysqld.sock", "Unix socket"),
            ("sslmode=PREFERRED&socket=/run/mysqld/mysqld.sock", "Unix socket"),
        ] {
            let err = parse_url(Some(&format!("mysql://u:SECRET-db@db/app?{conflicting}"))).unwrap_err();
            assert!(matches!(err, UrlError::MysqlTlsConflict(_)), "{conflicting}: {err:?}");
            let text = err.to_string();
            assert!(text.contains(expected), "{conflicting}: {text}");
            assert!(!text.contains("SECRET"), "{conflicting}: {text}");
        }
        // A typo must not quietly verify nothing (Prisma would fall back to accept_invalid_certs).
        assert_eq!(
            parse_url(Some("mysql://db/app?sslaccept=stict")).unwrap_err(),
            UrlError::InvalidParameter("sslaccept", "strict or accept_invalid_certs")
        );
        assert!(matches!(
            parse_url(Some("mysql://db/app?sslmode=sometimes")).unwrap_err(),
            UrlError::InvalidParameter("sslmode", _)
        ));
        assert_eq!(mysql("mysql://db/app?sslmode=DISABLED&socket=/s.sock").1, MysqlTls::default());
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
