//! Opening MySQL / MariaDB connections: mysql_async's options built from the URL and its TLS
//! settings ([`MysqlTls`]), for the pool and for `authbridge migrate` alike.
//!
//! diesel-async's `establish` takes only a URL, which cannot carry a CA file or a client
//! identity, so the connection is opened by mysql_async and handed to diesel-async with
//! `AsyncMysqlConnection::try_from`.

use std::path::Path;

use diesel::ConnectionError;
use diesel_async::AsyncMysqlConnection;
use mysql_async::{ClientIdentity, Opts, OptsBuilder, SslOpts};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::StartError;
use super::url::{MysqlSslMode, MysqlTls, Pkcs12Identity};

/// Run once per new connection. `STRICT_ALL_TABLES` errors on over-long strings and bad dates
/// instead of truncating them; the rest is MySQL 8's default minus what would change how our
/// statements parse (`ANSI_QUOTES`) or compare. (diesel-async itself sets time_zone '+00:00',
/// since DATETIME holds UTC wall time as Prisma writes it, and utf8mb4.)
const SESSION_SETUP: &str = "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'";

/// `rsaEncryption`: mysql_async's rustls side loads RSA client keys only.
const RSA_ENCRYPTION: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// Opens connections to one MySQL server with the URL's settings. Cloning is cheap.
#[derive(Clone)]
pub struct Connector {
    opts: Opts,
    /// `PREFERRED`: the same options without TLS, for a server that offers none.
    plain: Option<Opts>,
    mode: MysqlSslMode,
    /// `host:port` (or the socket) for messages: never the URL, which holds the password.
    endpoint: String,
    /// What the server's certificate is checked against, for messages.
    roots: String,
    /// `sslidentity` was given.
    identity: bool,
}

impl Connector {
    /// Reads the certificate files the URL names (so that a missing or unreadable one stops
    /// start-up at once); no connection is opened.
    pub fn new(url: &str, tls: &MysqlTls) -> Result<Self, StartError> {
        let base = Opts::from_url(url).map_err(|e| StartError::MysqlSettings(format!("DATABASE_URL: {e}")))?;
        let endpoint = match base.socket() {
            Some(socket) => format!("socket {socket}"),
            None => format!("{}:{}", base.ip_or_hostname(), base.tcp_port()),
        };
        // What diesel-async's `establish` sets: it keeps its own statement cache, and counts
        // matched rather than changed rows (as PostgreSQL does), which `update_returning` needs.
        let plain = OptsBuilder::from_opts(base).init(vec![SESSION_SETUP]).stmt_cache_size(0).client_found_rows(true);
        if tls.mode == MysqlSslMode::Disabled {
            let roots = String::new();
            return Ok(Self { opts: plain.into(), plain: None, mode: tls.mode, endpoint, roots, identity: false });
        }
        install_crypto_provider();
        let (root_certs, roots) = match (&tls.ca_file, tls.mode.verifies()) {
            (Some(path), _) => (ca_file(path)?, format!("the CA certificates of sslcert {}", path.display())),
            (None, true) => {
                (system_roots()?, "the system's CA certificates (give the server's CA with sslcert=)".into())
            }
            // Nothing is verified, but mysql_async builds a verifier all the same, and that
            // needs a root: its built-in ones do.
            (None, false) => (Vec::new(), String::new()),
        };
        let identity = tls.identity.as_ref().map(load_identity).transpose()?;
        let ssl = SslOpts::default()
            .with_disable_built_in_roots(!root_certs.is_empty())
            .with_root_certs(root_certs.into_iter().map(|der| der.to_vec().into()).collect())
            .with_client_identity(identity)
            .with_danger_accept_invalid_certs(!tls.mode.verifies())
            .with_danger_skip_domain_validation(tls.mode == MysqlSslMode::VerifyCa);
        // mysql_async would otherwise move a connection to a local server onto its Unix
        // socket after the handshake, without TLS.
        let secure = plain.clone().ssl_opts(ssl).prefer_socket(false);
        let plain = (tls.mode == MysqlSslMode::Preferred).then(|| plain.prefer_socket(false).into());
        Ok(Self { opts: secure.into(), plain, mode: tls.mode, endpoint, roots, identity: tls.identity.is_some() })
    }

    /// A new connection with authbridge's session settings. The error names the server and
    /// the reason in one line, never the password.
    pub async fn connect(&self) -> Result<AsyncMysqlConnection, ConnectionError> {
        let conn = match mysql_async::Conn::new(self.opts.clone()).await {
            Err(mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer)) => match &self.plain {
                Some(plain) => mysql_async::Conn::new(plain.clone()).await,
                None => Err(mysql_async::DriverError::NoClientSslFlagFromServer.into()),
            },
            other => other,
        }
        .map_err(|e| ConnectionError::BadConnection(format!("MySQL at {}: {}", self.endpoint, self.reason(&e))))?;
        AsyncMysqlConnection::try_from(conn).await
    }

    fn reason(&self, error: &mysql_async::Error) -> String {
        use mysql_async::{DriverError, Error, IoError};
        let tls_error = match error {
            Error::Io(IoError::Io(io)) => io.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()),
            Error::Io(IoError::Tls(mysql_async::TlsError::Tls(tls))) => Some(tls),
            _ => None,
        };
        match (tls_error, error) {
            (Some(rustls::Error::InvalidCertificate(why)), _) => {
                let name_checked_anyway = self.mode == MysqlSslMode::VerifyCa
                    && matches!(
                        why,
                        rustls::CertificateError::NotValidForName
                            | rustls::CertificateError::NotValidForNameContext { .. }
                    );
                let hint = if name_checked_anyway {
                    "; VERIFY_CA checks the host name here too (mysql_async's rustls support cannot leave it out): \
                     connect through a name the certificate holds"
                } else {
                    ""
                };
                format!("the server's TLS certificate does not verify against {}: {why}{hint}", self.roots)
            }
            (Some(tls), _) => format!("TLS handshake failed: {tls}"),
            (None, Error::Driver(DriverError::NoClientSslFlagFromServer)) => {
                format!("DATABASE_URL asks for TLS (sslmode {}), but the server does not offer TLS", self.mode.name())
            }
            // An account created `REQUIRE SSL` is refused with 1045 "Access denied", and so is
            // any plain connection to MariaDB with require_secure_transport; MySQL 8 answers
            // that one with 3159.
            (None, Error::Server(server))
                if self.mode == MysqlSslMode::Disabled && [1045, 3159].contains(&server.code) =>
            {
                format!(
                    "{}; if the server requires TLS, add sslaccept=strict (or sslmode=REQUIRED) to DATABASE_URL",
                    server.message
                )
            }
            (None, Error::Server(server)) if server.code == 1045 && !self.identity => format!(
                "{}; if the account requires a client certificate (REQUIRE X509), give it with sslidentity=",
                server.message
            ),
            (None, Error::Server(server)) => format!("{} (error {})", server.message, server.code),
            // mysql_async says "Input/output error: " twice before the system's message.
            (None, Error::Io(IoError::Io(io))) => io.to_string(),
            (None, other) => other.to_string(),
        }
    }
}

/// rustls needs a process-wide crypto provider. Installed explicitly, so that a build where
/// another dependency turns on a second provider (aws-lc-rs) does not make rustls give up
/// choosing; if one is installed already, that one stays.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Reads a file the URL names. Prisma 6 resolved certificate paths against the schema's folder,
/// so a relative path missing here but present under `prisma/` gets a hint.
fn read(parameter: &str, path: &Path) -> Result<Vec<u8>, StartError> {
    std::fs::read(path).map_err(|e| {
        let twin = Path::new("prisma").join(path.strip_prefix(".").unwrap_or(path));
        let hint = if path.is_relative() && twin.is_file() {
            format!(" (Prisma 6 read it relative to the schema's folder: from here it is {})", twin.display())
        } else {
            String::new()
        };
        StartError::MysqlSettings(format!("DATABASE_URL {parameter} {}: {e}{hint}", path.display()))
    })
}

/// Checks that rustls takes `cert` as a trust anchor (mysql_async fails every connection on one
/// it cannot).
fn is_anchor(cert: &CertificateDer<'static>) -> bool {
    rustls::RootCertStore::empty().add(cert.clone()).is_ok()
}

/// `sslcert`: every certificate in the PEM file (DER for a lone certificate).
fn ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, StartError> {
    let data = read("sslcert", path)?;
    let invalid = |why: &str| StartError::MysqlSettings(format!("DATABASE_URL sslcert {}: {why}", path.display()));
    let certs: Vec<CertificateDer<'static>> =
        if data.starts_with(b"-----") || data.trim_ascii_start().starts_with(b"-----") {
            CertificateDer::pem_slice_iter(&data)
                .collect::<Result<_, _>>()
                .map_err(|e| invalid(&format!("not a PEM certificate file ({e})")))?
        } else {
            vec![CertificateDer::from(data)]
        };
    if certs.is_empty() {
        return Err(invalid("holds no certificate"));
    }
    if !certs.iter().all(is_anchor) {
        return Err(invalid("holds a certificate that cannot be parsed as a CA certificate"));
    }
    Ok(certs)
}

/// The platform's CA certificates (`SSL_CERT_FILE`, `SSL_CERT_DIR`, or the distribution's
/// bundle, as OpenSSL finds them).
fn system_roots() -> Result<Vec<CertificateDer<'static>>, StartError> {
    let found = rustls_native_certs::load_native_certs();
    let roots: Vec<CertificateDer<'static>> = found.certs.into_iter().filter(is_anchor).collect();
    if roots.is_empty() {
        let why = found.errors.first().map(|e| format!(" ({e})")).unwrap_or_default();
        return Err(StartError::MysqlSettings(format!(
            "DATABASE_URL asks to verify the MySQL server's certificate, but no CA certificates were found on this \
             system{why}: install them (ca-certificates) or give the CA with sslcert="
        )));
    }
    Ok(roots)
}

/// `sslidentity`: the PKCS#12 file opened with `sslpassword`, as the PEM certificate chain and
/// PKCS#1 RSA key that mysql_async's rustls side reads.
fn load_identity(identity: &Pkcs12Identity) -> Result<ClientIdentity, StartError> {
    let invalid =
        |why: String| StartError::MysqlSettings(format!("DATABASE_URL sslidentity {}: {why}", identity.path.display()));
    let data = read("sslidentity", &identity.path)?;
    let store =
        p12_keystore::KeyStore::from_pkcs12(&data, &identity.password, p12_keystore::Pkcs12ImportPolicy::Strict)
            .map_err(|e| invalid(format!("cannot open it as PKCS#12 with sslpassword ({e})")))?;
    let (_, chain) =
        store.private_key_chain().ok_or_else(|| invalid("holds no private key with its certificate".into()))?;
    let key = pkcs8::PrivateKeyInfoRef::try_from(chain.key().as_der())
        .map_err(|e| invalid(format!("its private key cannot be read ({e})")))?;
    if key.algorithm.oid != RSA_ENCRYPTION {
        let kind = if key.algorithm.oid == EC_PUBLIC_KEY { "EC".to_owned() } else { key.algorithm.oid.to_string() };
        return Err(invalid(format!(
            "the client key is {kind}, but MySQL TLS here (mysql_async with rustls) takes RSA client keys only"
        )));
    }
    // mysql_async hands these to rustls at the first connection; a certificate rustls refuses
    // (an X.509 v1 one, say) is better reported now, as the identity's fault.
    let chain_der: Vec<CertificateDer<'static>> =
        chain.certs().iter().map(|c| CertificateDer::from(c.as_der().to_vec())).collect();
    let key_der = rustls::pki_types::PrivatePkcs1KeyDer::from(key.private_key.as_bytes().to_vec());
    rustls::ClientConfig::builder()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_client_auth_cert(chain_der, key_der.into())
        .map_err(|e| invalid(format!("rustls cannot use this client certificate and key: {e}")))?;
    let certs: Vec<pem::Pem> = chain.certs().iter().map(|c| pem::Pem::new("CERTIFICATE", c.as_der())).collect();
    let key = pem::Pem::new("RSA PRIVATE KEY", key.private_key.as_bytes());
    Ok(ClientIdentity::new(pem::encode_many(&certs).into_bytes().into(), pem::encode(&key).into_bytes().into()))
}
