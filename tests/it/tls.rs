//! TLS to PostgreSQL against real servers: the shared one (`ssl = on` with Debian's snakeoil
//! certificate, CN and SAN `localhost`), and a private cluster made here with a test CA, for
//! client certificates (`hostssl ... cert`), channel binding (SCRAM-SHA-256-PLUS) and `allow`.
//! Certificates come from rcgen; the other key forms and the PKCS#12 file from the `openssl` CLI,
//! as users make them.

use std::path::Path;
use std::process::Command;

use authbridge::db::{Db, PoolOptions, url};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

use crate::binary::start_up_failure;
use crate::harness::Need;
use crate::servers::PrivatePg;
use crate::support::{Backend, Scratch, pg_admin, pool_options, ready_db, texts};

crate::harness::tests! {
    async on [Backend::Postgres] needs [Need::Snakeoil]: every_sslmode_against_the_shared_server;
    sync on [Backend::Postgres] needs [Need::Snakeoil]: certificates_that_do_not_verify_stop_start_up_with_one_clear_line;
    sync on [Backend::PgBouncer]: certificates_that_do_not_verify_stop_start_up_with_one_clear_line;
    async needs [Need::PostgresServer, Need::Openssl]: client_certificates_and_channel_binding_on_a_private_cluster;
}

/// Ports reserved for the private clusters of these tests.
const PRIVATE_PORTS: std::ops::RangeInclusive<u16> = 55440..=55449;

/// `url` with its host replaced and `query` appended.
fn with(url: &str, host: &str, query: &str) -> String {
    let mut parsed = ::url::Url::parse(url).unwrap();
    parsed.set_host(Some(host)).unwrap();
    parsed.set_query(Some(query).filter(|q| !q.is_empty()));
    parsed.to_string()
}

fn unique_app_name() -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("ab_tls_{}_{n}", std::process::id())
}

/// `pg_stat_ssl.ssl` of every backend whose application_name is `name`.
async fn ssl_of_backends(admin_url: &str, name: &str) -> Vec<bool> {
    let (client, connection) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls).await.expect("admin");
    let task = tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1",
            &[&name],
        )
        .await
        .expect("pg_stat_ssl");
    drop(client);
    let _ = task.await;
    rows.iter().map(|r| r.get::<_, bool>(0)).collect()
}

/// Every sslmode on the shared server: which connections use TLS (pg_stat_ssl, for authbridge's
/// own backends, told apart by application_name) and which certificates are accepted.
async fn every_sslmode_against_the_shared_server(backend: Backend) {
    let (_scratch, url) = Scratch::create(backend).await;
    let admin = crate::support::postgres_admin_url();
    let root = Need::Snakeoil.get().to_owned();
    let cases = [
        ("127.0.0.1", "sslmode=require".to_owned(), true),
        // prefer, the default: TLS because the server offers it.
        ("127.0.0.1", String::new(), true),
        ("127.0.0.1", "sslmode=prefer".to_owned(), true),
        ("127.0.0.1", "sslmode=disable".to_owned(), false),
        // allow: plain first, and this server accepts plain.
        ("127.0.0.1", "sslmode=allow".to_owned(), false),
        ("localhost", format!("sslmode=verify-full&sslrootcert={root}"), true),
        // The certificate names localhost only: verify-ca does not check the name, nor does
        // require with a CA (libpq: the chain is checked, the name is not).
        ("127.0.0.1", format!("sslmode=verify-ca&sslrootcert={root}"), true),
        ("127.0.0.1", format!("sslmode=require&sslrootcert={root}"), true),
        // Prisma's spellings: sslcert alone is the CA, sslaccept=strict checks the name too.
        ("localhost", format!("sslcert={root}&sslaccept=strict"), true),
    ];
    for (host, query, tls) in cases {
        let name = unique_app_name();
        let sep = if query.is_empty() { "" } else { "&" };
        let case_url = with(&url, host, &format!("{query}{sep}application_name={name}"));
        let db = ready_db(&case_url).await;
        assert_eq!(texts(&db, "SELECT 'ok' AS value").await, ["ok"], "{host} {query}");
        let seen = ssl_of_backends(&admin, &name).await;
        assert!(!seen.is_empty(), "{host} {query}: authbridge's backends are visible by application_name");
        assert!(seen.iter().all(|ssl| *ssl == tls), "{host} {query}: pg_stat_ssl.ssl {seen:?}, want {tls}");
    }
}

/// A CA of the test's own, and a certificate it signs (`names` as SANs, the first as CN).
struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        TestCa { issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap() }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `key` with CN `names[0]` and `names` as DNS SANs, in PEM.
    fn sign(&self, names: &[&str], key: &KeyPair) -> String {
        let mut params = CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.signed_by(key, &self.issuer).unwrap().pem()
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// A certificate that does not verify stops start-up with one line that names the host, the port
/// and the reason, never the password; the exit code is that of every database failure at
/// start-up (1; configuration errors found before connecting are 2). PgBouncer here speaks no
/// TLS to its clients: it answers the TLS request with "no".
fn certificates_that_do_not_verify_stop_start_up_with_one_clear_line(backend: Backend) {
    let admin = crate::support::postgres_admin_url();
    let dir = tempfile::tempdir().unwrap();
    let other_ca = write(dir.path(), "other-ca.pem", &TestCa::new("not the server's CA").pem());
    let mut with_password = ::url::Url::parse(&admin).unwrap();
    with_password.set_password(Some("hunter2")).unwrap();
    let cases = match backend {
        Backend::PgBouncer => {
            let bouncer = crate::servers::PgBouncer::shared();
            vec![("127.0.0.1", bouncer.port, "sslmode=require".to_owned(), "server does not support TLS")]
        }
        _ => {
            let (root, port) = (Need::Snakeoil.get(), with_password.port().unwrap_or(5432));
            vec![
                ("127.0.0.1", port, format!("sslmode=verify-full&sslrootcert={root}"), "name mismatch"),
                ("localhost", port, format!("sslmode=verify-full&sslrootcert={other_ca}"), "unknown issuer"),
                ("localhost", port, format!("sslmode=verify-ca&sslrootcert={other_ca}"), "unknown issuer"),
                ("127.0.0.1", port, format!("sslcert={other_ca}&sslaccept=strict"), "unknown issuer"),
            ]
        }
    };
    for (host, port, query, reason) in cases {
        let mut url = ::url::Url::parse(&with(with_password.as_str(), host, &query)).unwrap();
        url.set_port(Some(port)).unwrap();
        let (code, stderr) = start_up_failure(dir.path(), url.as_str());
        assert_eq!(code, Some(1), "{host} {query}: {stderr}");
        assert!(!stderr.contains("hunter2"), "the password never appears: {stderr}");
        let line = stderr
            .lines()
            .find(|l| l.starts_with("authbridge: "))
            .unwrap_or_else(|| panic!("{host} {query}: no authbridge: line in {stderr}"));
        assert!(line.contains(&format!("PostgreSQL at {host}:{port}")), "{line}");
        assert!(line.contains(reason), "{host} {query}: {line}");
        assert!(!line.contains("postgresql://") && !line.contains("sslrootcert="), "not the URL: {line}");
    }
}

/// `current_user` over a pool of one connection to `url`, or the error, as text.
async fn current_user(url: &str) -> Result<String, String> {
    let parsed = url::parse_url(Some(url)).map_err(|e| e.to_string())?;
    let db = Db::new(parsed.target, &PoolOptions { max_size: 1, ..pool_options() }, Default::default())
        .map_err(|e| e.to_string())?;
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }
    let rows: Vec<Row> = authbridge::with_conn!(db, conn => {
        use diesel_async::RunQueryDsl;
        diesel::sql_query("SELECT current_user::text AS value").load(conn).await
    })
    .map_err(|e| e.to_string())?;
    Ok(rows.into_iter().next().map(|r| r.value).unwrap_or_default())
}

fn openssl_run(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl").args(args).current_dir(dir).output().unwrap();
    assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// One private cluster with a server certificate from a test CA: client certificates in every
/// form (PEM with PKCS#8, SEC1 and RSA keys; PKCS#12), channel binding, and `allow`'s retry.
async fn client_certificates_and_channel_binding_on_a_private_cluster() {
    let certs = tempfile::tempdir().unwrap();
    let ca = TestCa::new("authbridge test CA");
    let server_key = KeyPair::generate().unwrap();
    let server_cert = ca.sign(&["localhost"], &server_key);
    let ca_pem = ca.pem();
    let pg = PrivatePg::create(PRIVATE_PORTS, |data| {
        std::fs::write(data.join("server.crt"), &server_cert).unwrap();
        std::fs::write(data.join("server.key"), server_key.serialize_pem()).unwrap();
        std::fs::write(data.join("ca.crt"), &ca_pem).unwrap();
        std::fs::set_permissions(data.join("server.key"), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let mut conf = std::fs::OpenOptions::new().append(true).open(data.join("postgresql.auto.conf")).unwrap();
        std::io::Write::write_all(
            &mut conf,
            b"ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nssl_ca_file = 'ca.crt'\n\
              password_encryption = 'scram-sha-256'\n",
        )
        .unwrap();
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all certuser 127.0.0.1/32 cert\n\
             host all scramuser 127.0.0.1/32 scram-sha-256\n\
             hostssl all tlsonly 127.0.0.1/32 trust\n\
             host all postgres 127.0.0.1/32 trust\n",
        )
        .unwrap();
    });
    pg_admin(&pg.url(), "CREATE USER certuser; CREATE USER scramuser PASSWORD 'scram-secret'; CREATE USER tlsonly")
        .await;

    // The client certificate of certuser, with its key in every form libpq reads.
    let dir = certs.path();
    let ca_file = write(dir, "ca.pem", &ca_pem);
    let ec_key = KeyPair::generate().unwrap();
    let ec_cert = write(dir, "ec.crt", &ca.sign(&["certuser"], &ec_key));
    let pkcs8 = write(dir, "ec-pkcs8.key", &ec_key.serialize_pem());
    openssl_run(dir, &["ec", "-in", "ec-pkcs8.key", "-out", "ec-sec1.key"]);
    openssl_run(dir, &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "rsa-pkcs8.key"]);
    openssl_run(dir, &["rsa", "-in", "rsa-pkcs8.key", "-traditional", "-out", "rsa-pkcs1.key"]);
    let rsa_key = KeyPair::from_pem(&std::fs::read_to_string(dir.join("rsa-pkcs8.key")).unwrap()).unwrap();
    let rsa_cert = write(dir, "rsa.crt", &ca.sign(&["certuser"], &rsa_key));
    openssl_run(
        dir,
        &[
            "pkcs12",
            "-export",
            "-in",
            "ec.crt",
            "-inkey",
            "ec-pkcs8.key",
            "-passout",
            "pass:p12-secret",
            "-out",
            "id.p12",
        ],
    );
    let sec1 = dir.join("ec-sec1.key").display().to_string();
    let pkcs1 = dir.join("rsa-pkcs1.key").display().to_string();
    assert!(std::fs::read_to_string(&sec1).unwrap().contains("BEGIN EC PRIVATE KEY"));
    assert!(std::fs::read_to_string(&pkcs1).unwrap().contains("BEGIN RSA PRIVATE KEY"));
    let p12 = dir.join("id.p12").display().to_string();

    let port = pg.port;
    let at = |user: &str, host: &str, query: &str| format!("postgresql://{user}@{host}:{port}/postgres?{query}");
    let full = format!("sslmode=verify-full&sslrootcert={ca_file}");
    for (form, query) in [
        ("PEM, PKCS#8 key", format!("{full}&sslcert={ec_cert}&sslkey={pkcs8}")),
        ("PEM, SEC1 key", format!("{full}&sslcert={ec_cert}&sslkey={sec1}")),
        ("PEM, RSA key", format!("{full}&sslcert={rsa_cert}&sslkey={pkcs1}")),
        (
            "PKCS#12, Prisma's form",
            format!("sslcert={ca_file}&sslaccept=strict&sslidentity={p12}&sslpassword=p12-secret"),
        ),
        ("PKCS#12 with libpq's CA", format!("{full}&sslidentity={p12}&sslpassword=p12-secret")),
    ] {
        assert_eq!(current_user(&at("certuser", "localhost", &query)).await, Ok("certuser".into()), "{form}");
    }
    let no_cert = current_user(&at("certuser", "localhost", &full)).await.unwrap_err();
    assert!(no_cert.contains("certificate"), "cert auth without a client certificate is refused: {no_cert}");
    let wrong_password =
        current_user(&at("certuser", "localhost", &format!("{full}&sslidentity={p12}&sslpassword=nope")))
            .await
            .unwrap_err();
    assert!(wrong_password.contains("sslidentity") && !wrong_password.contains("nope"), "{wrong_password}");

    // channel_binding=require: SCRAM-SHA-256-PLUS over TLS, refused without TLS.
    let scram = |query: &str| at("scramuser:scram-secret", "localhost", query);
    assert_eq!(
        current_user(&scram(&format!("{full}&channel_binding=require"))).await,
        Ok("scramuser".into()),
        "channel binding over TLS"
    );
    assert_eq!(current_user(&scram("sslmode=require&channel_binding=require")).await, Ok("scramuser".into()));
    let plain = current_user(&scram("sslmode=disable&channel_binding=require")).await.unwrap_err();
    assert!(plain.contains("channel binding"), "{plain}");
    assert!(!plain.contains("scram-secret"), "{plain}");
    assert_eq!(current_user(&scram("sslmode=disable")).await, Ok("scramuser".into()), "the password alone works plain");

    // allow: the plain attempt is turned away (hostssl only), the TLS retry gets in.
    assert_eq!(current_user(&at("tlsonly", "127.0.0.1", "sslmode=allow")).await, Ok("tlsonly".into()));
    let refused = current_user(&at("tlsonly", "127.0.0.1", "sslmode=disable")).await.unwrap_err();
    assert!(refused.contains("no pg_hba.conf entry"), "{refused}");
}
