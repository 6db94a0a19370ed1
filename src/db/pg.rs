//! PostgreSQL connections: TLS with libpq's meaning of every parameter (see [`PgTls`]), and the
//! unit of work that keeps transaction poolers (`pgbouncer=true`) safe.
//!
//! Every PostgreSQL connection of the process (the pool's and the migration's) is opened by one
//! [`Connector`], built once at start-up, when the certificate files are read.
//!
//! ## Transaction poolers
//!
//! diesel-async prepares each statement as a *named* statement (one round trip), then binds and
//! runs it (a second one). PgBouncer in `pool_mode = transaction` (1.18, without prepared
//! statement support) hands the server connection back to its pool at the end of each
//! transaction, and a statement outside a transaction is a transaction of its own: between the
//! two round trips another client may get the server, and the bind then fails ("prepared
//! statement "s7" does not exist") or lands on a server connection that never saw it. So with
//! `pgbouncer=true`:
//! - the prepared-statement cache is off: every statement is closed when dropped, and
//!   tokio-postgres queues that `Close` at once, before anything the caller sends next;
//! - every unit of work (one `with_conn!` body) runs in one transaction, so prepare, bind and
//!   close all reach the same server connection. A body that opens its own transaction nests as a
//!   savepoint (two more round trips; only `createSession` with a session limit does);
//! - nothing session-level is assumed to last: PgBouncer 1.18 refuses the `options` start-up
//!   parameter that sets `search_path` for `?schema=` on a direct connection, so the unit's
//!   `BEGIN` carries `SET LOCAL search_path` in the same simple-query round trip. diesel-async's
//!   own set-up (`SET TIME ZONE 'UTC'`, client encoding) runs in one transaction when the
//!   connection opens; PgBouncer replays those two parameters on every server it assigns.
//!
//! The other design, unnamed statements sent with their bind in one round trip (tokio-postgres'
//! `query_typed`), would cost no transaction, but diesel-async only runs named statements. What
//! the transaction costs on the session read is measured by `bench/run.sh` (the `pgbouncer=true`
//! rows).

use std::path::Path;
use std::sync::Arc;

use diesel::ConnectionError;
use diesel::connection::CacheSize;
use diesel_async::{
    AnsiTransactionManager, AsyncConnection, AsyncPgConnection, SimpleAsyncConnection, TransactionManager,
};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_postgres::config::{ChannelBinding, Host, SslMode as DriverSslMode};

use super::url::{ClientIdentity, PgTls, Roots, SslMode, Verify};
use super::{Error, StartError};

/// Opens PostgreSQL connections as `DATABASE_URL` asks.
pub struct Connector {
    config: tokio_postgres::Config,
    mode: SslMode,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    /// `Some` behind a transaction pooler: the SQL that opens each unit of work.
    unit_begin: Option<String>,
    /// `host:port` for messages: never the user, password or query.
    endpoint: String,
}

impl Connector {
    /// Reads the certificate files and checks the URL; any problem is a configuration error.
    pub fn new(url: &str, schema: Option<&str>, tls: &PgTls, pgbouncer: bool) -> Result<Self, StartError> {
        let config: tokio_postgres::Config =
            url.parse().map_err(|e| StartError::Tls(format!("DATABASE_URL is not understood by the driver: {e}")))?;
        let endpoint = endpoint(&config);
        let client_tls = match tls.mode {
            SslMode::Disable => None,
            _ => Some(tokio_postgres_rustls::MakeRustlsConnect::new(client_config(tls).map_err(StartError::Tls)?)),
        };
        let unit_begin = pgbouncer.then(|| match schema {
            Some(schema) => format!("{UNIT_BEGIN}; SET LOCAL search_path TO {}", quote_identifier(schema)),
            None => UNIT_BEGIN.to_owned(),
        });
        Ok(Connector { config, mode: tls.mode, tls: client_tls, unit_begin, endpoint })
    }

    /// The SQL that opens a unit of work, behind a transaction pooler only.
    pub fn unit_begin(&self) -> Option<&str> {
        self.unit_begin.as_deref()
    }

    /// A new connection, over TLS as `sslmode` says. A failure is described in one line that
    /// names the host and port and the reason, never the user's password or the URL.
    pub async fn connect(&self) -> Result<AsyncPgConnection, ConnectionError> {
        let client = match self.mode {
            SslMode::Disable => self.open(DriverSslMode::Disable).await,
            // libpq's `allow`: plain first, and TLS when the server turned the plain connection
            // away (pg_hba.conf `hostssl`), or when channel binding is required (which needs TLS).
            SslMode::Allow => match self.open(DriverSslMode::Disable).await {
                Err(e) if e.as_db_error().is_some() || self.config.get_channel_binding() == ChannelBinding::Require => {
                    self.open(DriverSslMode::Require).await
                }
                plain => plain,
            },
            SslMode::Prefer => self.open(DriverSslMode::Prefer).await,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => self.open(DriverSslMode::Require).await,
        }
        .map_err(|e| ConnectionError::BadConnection(self.describe(&e)))?;
        let unit = self.unit_begin.is_some();
        // Through a transaction pooler, diesel-async's set-up statements (prepared, then run)
        // must reach one server connection: one transaction around them.
        if unit {
            client.batch_execute("BEGIN").await.map_err(|e| ConnectionError::BadConnection(self.describe(&e)))?;
        }
        let mut conn = AsyncPgConnection::try_from(client).await?;
        if unit {
            conn.batch_execute("COMMIT").await.map_err(ConnectionError::CouldntSetupConfiguration)?;
            conn.set_prepared_statement_cache_size(CacheSize::Disabled);
        }
        Ok(conn)
    }

    async fn open(&self, mode: DriverSslMode) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        self.open_with(mode, &self.config, None).await
    }

    /// [`Connector::open`] with another configuration, and `notifications` receiving what the
    /// server sends asynchronously (`NOTIFY`); the sender is dropped when the connection ends.
    async fn open_with(
        &self,
        mode: DriverSslMode,
        config: &tokio_postgres::Config,
        notifications: Option<Notifications>,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let mut config = config.clone();
        config.ssl_mode(mode);
        // The connection task ends when the client is dropped; its errors reach the client's
        // next request (diesel-async reports them, `Error::is_unavailable` reads them).
        match (&self.tls, mode) {
            (Some(tls), DriverSslMode::Prefer | DriverSslMode::Require) => {
                let (client, connection) = config.connect(tls.clone()).await?;
                drive(connection, notifications);
                Ok(client)
            }
            _ => {
                let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
                drive(connection, notifications);
                Ok(client)
            }
        }
    }

    /// A connection of its own (never the pool's) that has run `LISTEN channel`, and the
    /// notifications it receives; the receiver ends when the connection is lost. Its
    /// `application_name` is [`LISTENER_APPLICATION_NAME`], so an operator can tell it apart in
    /// `pg_stat_activity`.
    pub async fn listen(
        &self,
        channel: &str,
    ) -> Result<(tokio_postgres::Client, UnboundedReceiver<tokio_postgres::Notification>), String> {
        let mut config = self.config.clone();
        config.application_name(LISTENER_APPLICATION_NAME);
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        let mode = match self.mode {
            SslMode::Disable | SslMode::Allow => DriverSslMode::Disable,
            SslMode::Prefer => DriverSslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => DriverSslMode::Require,
        };
        let client = match self.open_with(mode, &config, Some(sender.clone())).await {
            // libpq's `allow`, as in `connect`.
            Err(e) if self.mode == SslMode::Allow && e.as_db_error().is_some() => {
                self.open_with(DriverSslMode::Require, &config, Some(sender)).await
            }
            other => other,
        }
        .map_err(|e| self.describe(&e))?;
        client.batch_execute(&format!("LISTEN {}", quote_identifier(channel))).await.map_err(|e| self.describe(&e))?;
        Ok((client, receiver))
    }

    /// `PostgreSQL at host:port (sslmode=...): reason`, on one line.
    fn describe(&self, error: &tokio_postgres::Error) -> String {
        let reason = match tls_error(error) {
            Some(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => {
                "unknown issuer: the server certificate does not chain to a trusted CA (sslrootcert, Prisma's sslcert, \
                 or the system's roots)"
                    .to_owned()
            }
            Some(rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
                expected,
                presented,
            })) => {
                format!(
                    "name mismatch: the server certificate is not valid for {} (it names {}); sslmode=verify-full \
                     checks the host name of DATABASE_URL",
                    expected.to_str(),
                    presented.join(", ")
                )
            }
            Some(rustls::Error::InvalidCertificate(CertificateError::NotValidForName)) => {
                "name mismatch: the server certificate is not valid for the host name of DATABASE_URL".to_owned()
            }
            Some(rustls::Error::InvalidCertificate(
                CertificateError::Expired | CertificateError::ExpiredContext { .. },
            )) => "the server certificate has expired".to_owned(),
            Some(other) => format!("TLS handshake failed: {other}"),
            None => match error.as_db_error() {
                // The server's own words (e.g. "FATAL: no pg_hba.conf entry for ... no encryption").
                Some(db) => db.to_string(),
                None => chain(error),
            },
        };
        let mode = match self.mode {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        };
        format!("PostgreSQL at {} (sslmode={mode}): {}", self.endpoint, one_line(&reason))
    }
}

/// The `application_name` of the session cache's `LISTEN` connection.
pub const LISTENER_APPLICATION_NAME: &str = "authbridge session cache";

type Notifications = tokio::sync::mpsc::UnboundedSender<tokio_postgres::Notification>;

/// Runs the connection until it ends, handing its notifications to `notifications`.
fn drive<S, T>(mut connection: tokio_postgres::Connection<S, T>, notifications: Option<Notifications>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let Some(notifications) = notifications else {
        tokio::spawn(connection);
        return;
    };
    tokio::spawn(async move {
        use futures_util::StreamExt as _;
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let tokio_postgres::AsyncMessage::Notification(notification) = message
                && notifications.send(notification).is_err()
            {
                return;
            }
        }
    });
}

/// An error and its causes, `a: b: c`, each said once.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let part = e.to_string();
        if !text.contains(&part) {
            text = format!("{text}: {part}");
        }
        cause = e.source();
    }
    text
}

/// Opens the unit of work (behind a transaction pooler only); `true` when one was opened.
pub async fn begin_unit(conn: &mut AsyncPgConnection, begin: Option<&str>) -> diesel::QueryResult<bool> {
    match begin {
        Some(sql) => AnsiTransactionManager::begin_transaction_sql(conn, sql).await.map(|()| true),
        None => Ok(false),
    }
}

/// Ends the unit of work: commits when the body succeeded (a failed commit fails the request),
/// rolls back when it did not.
pub async fn end_unit<T, E>(conn: &mut AsyncPgConnection, began: bool, result: Result<T, E>) -> Result<T, Error>
where
    Error: From<E>,
{
    if !began {
        return Ok(result?);
    }
    match result {
        Ok(value) => {
            AnsiTransactionManager::commit_transaction(conn).await?;
            Ok(value)
        }
        Err(e) => {
            // A failed rollback leaves the transaction manager broken, and the pool then drops
            // the connection; the body's error is the one to report.
            let _ = AnsiTransactionManager::rollback_transaction(conn).await;
            Err(e.into())
        }
    }
}

/// Runs `$body` with `$conn` bound to a connection of the PostgreSQL `$pool` of `$db`, as one
/// unit of work (see the module documentation).
#[doc(hidden)]
#[macro_export]
macro_rules! with_pg_conn {
    ($db:expr, $pool:expr, $conn:ident => $body:expr) => {{
        let mut pooled = $pool.get().await?;
        let began = $crate::db::pg::begin_unit(&mut pooled, $db.pg_unit_begin()).await?;
        let result = {
            let $conn = &mut *pooled;
            $body
        };
        $crate::db::pg::end_unit(&mut pooled, began, result).await
    }};
}
pub use with_pg_conn;

/// A unit of work behind a transaction pooler stands for what would otherwise be one autocommit
/// statement, which always sees the latest committed rows: READ COMMITTED whatever the
/// database's `default_transaction_isolation`. The relation-mode transactions
/// (`db::relations`) rely on it too: behind the pooler they nest in the unit as a savepoint.
pub const UNIT_BEGIN: &str = "BEGIN ISOLATION LEVEL READ COMMITTED";

fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn endpoint(config: &tokio_postgres::Config) -> String {
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                #[cfg(unix)]
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect();
    if hosts.is_empty() { "localhost:5432".to_owned() } else { hosts.join(",") }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The rustls error under a failed TLS handshake, if that is what failed.
fn tls_error(error: &tokio_postgres::Error) -> Option<&rustls::Error> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        // tokio-rustls wraps the rustls error in an io::Error, whose `source` skips it.
        if let Some(tls) =
            e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()?.downcast_ref::<rustls::Error>())
        {
            return Some(tls);
        }
        current = e.source();
    }
    None
}

/// The rustls client configuration for `tls`; errors name the parameter and the file.
fn client_config(tls: &PgTls) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match tls.verify() {
        Verify::Nothing => Arc::new(Lenient { provider: provider.clone(), chain: None }),
        verify => {
            let roots = match &tls.roots {
                Some(Roots::File(path)) => roots_from_file(path)?,
                Some(Roots::System) | None => system_roots()?,
            };
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| format!("cannot use the CA certificates: {e}"))?;
            match verify {
                Verify::Chain => Arc::new(Lenient { provider: provider.clone(), chain: Some(webpki) }),
                _ => webpki,
            }
        }
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match &tls.identity {
        None => Ok(builder.with_no_client_auth()),
        Some(identity) => {
            let (certs, key) = read_identity(identity)?;
            builder.with_client_auth_cert(certs, key).map_err(|e| format!("the client certificate cannot be used: {e}"))
        }
    }
}

fn roots_from_file(path: &Path) -> Result<RootCertStore, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| format!("cannot read the CA file {} (sslrootcert / sslcert): {e}", path.display()))?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!("the CA file {} (sslrootcert / sslcert) holds no usable PEM certificate", path.display()));
    }
    Ok(roots)
}

/// The platform's roots (`SSL_CERT_FILE` / `SSL_CERT_DIR` override where they are looked for).
fn system_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(
            "sslrootcert=system (or sslaccept=strict without a CA file): no CA certificates were found on this \
             system (install the ca-certificates package, or set SSL_CERT_FILE)"
                .to_owned(),
        );
    }
    Ok(roots)
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn read_identity(identity: &ClientIdentity) -> Result<Identity, String> {
    match identity {
        ClientIdentity::Pem { cert, key } => {
            let certs = CertificateDer::pem_file_iter(cert)
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(|e| format!("cannot read the client certificate {} (sslcert): {e}", cert.display()))?;
            if certs.is_empty() {
                return Err(format!("the client certificate {} (sslcert) holds no PEM certificate", cert.display()));
            }
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                format!("cannot read the private key {} (sslkey; PEM, PKCS#8, RSA or SEC1): {e}", key.display())
            })?;
            Ok((certs, key))
        }
        ClientIdentity::Pkcs12 { path, password } => {
            let data = std::fs::read(path)
                .map_err(|e| format!("cannot read the PKCS#12 file {} (sslidentity): {e}", path.display()))?;
            let store = p12_keystore::KeyStore::from_pkcs12(&data, password, p12_keystore::Pkcs12ImportPolicy::Strict)
                .map_err(|e| {
                    format!("cannot open the PKCS#12 file {} (sslidentity; is sslpassword right?): {e}", path.display())
                })?;
            let (_, chain) = store.private_key_chain().ok_or_else(|| {
                format!("the PKCS#12 file {} (sslidentity) holds no private key with its certificate", path.display())
            })?;
            let certs = chain.certs().iter().map(|c| CertificateDer::from(c.as_der().to_vec())).collect();
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec()));
            Ok((certs, key))
        }
    }
}

/// The two checks libpq makes that rustls's own verifier does not: `sslmode=prefer|require`
/// without a CA (`chain: None`: encrypted, the server not authenticated) and `verify-ca` (the
/// chain must lead to a trusted root; the name is not checked — webpki checks the name last,
/// after the chain, so a name error means the chain was good). The handshake's signatures are
/// checked in both.
#[derive(Debug)]
struct Lenient {
    provider: Arc<CryptoProvider>,
    chain: Option<Arc<WebPkiServerVerifier>>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
