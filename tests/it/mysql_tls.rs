//! TLS to MySQL / MariaDB, for real: a private `mariadbd` started by the test (ports
//! 33070-33079, a temporary data directory, stopped on drop) with certificates the test makes
//! with `openssl`, accounts created `REQUIRE SSL` and `REQUIRE X509`, and authbridge connecting
//! as Prisma's parameters and `sslmode` say. The shared server on 3306 is not used.
//!
//! Needs `mariadb-install-db`, `mariadbd` (Debian's mariadb-server) and `openssl`
//! (`Need::MariadbServer`, `Need::Openssl`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use authbridge::db::url;
use authbridge::db::{Db, StartError};
use serde_json::json;

use crate::binary::{Server, command};
use crate::harness::{Need, program};
use crate::servers::{is_root, run};
use crate::support::{Backend, Scratch, TestApp, mysql_admin, pool_options, ready_db, texts};

crate::harness::tests! {
    async needs [Need::MariadbServer, Need::Openssl]:
        a_require_ssl_account_is_reached_over_verified_tls_only,
        verify_ca_verifies_the_chain_and_here_the_name_too,
        a_require_x509_account_is_reached_with_a_pkcs12_identity,
        migrate_serve_and_the_contract_fixtures_over_tls,
        a_server_without_tls_is_used_only_when_tls_is_optional;
}

/// The password of the accounts the tests create; no output may ever contain it.
const PASSWORD: &str = "SECRET-tls-pw";
/// The password of the PKCS#12 client identities.
const P12_PASSWORD: &str = "SECRET-p12-pw";

/// Certificates made for one test, in its directory.
struct Certs {
    dir: PathBuf,
}

impl Certs {
    /// A CA, a server certificate it signs for `localhost` only (so that `127.0.0.1` is a name
    /// mismatch), a second CA that signed nothing the server has, and client identities signed
    /// by the first CA: RSA in PKCS#12 as OpenSSL 3 writes it (AES, PBKDF2) and with `-legacy`
    /// (3DES, as older tools write it), an EC one and an X.509 v1 one.
    fn make(dir: &Path) -> Certs {
        let certs = Certs { dir: dir.to_owned() };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
        let rsa = ["-newkey", "rsa:2048"];
        for (name, subject) in [("ca", "/CN=authbridge test CA"), ("other-ca", "/CN=another test CA")] {
            certs.openssl(
                &[&["req", "-x509", "-nodes", "-days", "2", "-subj", subject][..], &ec].concat(),
                &[("-keyout", &format!("{name}.key")), ("-out", &format!("{name}.pem"))],
            );
        }
        std::fs::write(dir.join("server.ext"), "subjectAltName=DNS:localhost\n").unwrap();
        certs.sign("server", "/CN=localhost", &ec, Some("server.ext"));
        std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
        certs.sign("client", "/CN=ab-client", &rsa, Some("client.ext"));
        certs.sign("client-ec", "/CN=ab-client-ec", &ec, Some("client.ext"));
        // Without extensions OpenSSL writes an X.509 v1 certificate, which rustls refuses.
        certs.sign("client-v1", "/CN=ab-client-v1", &rsa, None);
        for (p12, key, legacy) in [
            ("client.p12", "client", false),
            ("client-legacy.p12", "client", true),
            ("client-ec.p12", "client-ec", false),
            ("client-v1.p12", "client-v1", false),
        ] {
            let mut args = vec!["pkcs12", "-export", "-passout"];
            let pass = format!("pass:{P12_PASSWORD}");
            args.push(&pass);
            if legacy {
                args.push("-legacy");
            }
            certs.openssl(&args, &[("-inkey", &format!("{key}.key")), ("-in", &format!("{key}.pem")), ("-out", p12)]);
        }
        certs
    }

    /// A key and a certificate for `subject`, signed by the test CA.
    fn sign(&self, name: &str, subject: &str, key: &[&str], extensions: Option<&str>) {
        self.openssl(
            &[&["req", "-nodes", "-subj", subject][..], key].concat(),
            &[("-keyout", &format!("{name}.key")), ("-out", &format!("{name}.csr"))],
        );
        let mut args = vec!["x509", "-req", "-days", "2", "-CAcreateserial"];
        if let Some(extensions) = extensions {
            args.extend(["-extfile", extensions]);
        }
        self.openssl(
            &args,
            &[
                ("-in", &format!("{name}.csr")),
                ("-CA", "ca.pem"),
                ("-CAkey", "ca.key"),
                ("-out", &format!("{name}.pem")),
            ],
        );
    }

    fn openssl(&self, args: &[&str], files: &[(&str, &str)]) {
        let mut command = Command::new("openssl");
        command.args(args).current_dir(&self.dir);
        for (flag, file) in files {
            command.arg(flag).arg(file);
        }
        run(&mut command);
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

/// A MariaDB server of the test's own, stopped and removed on drop (also when the test fails).
struct PrivateMariadb {
    dir: tempfile::TempDir,
    child: Child,
    port: u16,
}

impl PrivateMariadb {
    /// Initialises a data directory and starts `mariadbd` on it, with TLS when `certs` is given.
    fn start(dir: tempfile::TempDir, certs: Option<&Certs>) -> PrivateMariadb {
        let data = dir.path().join("data");
        // A temporary directory of its own: bootstraps running side by side in /tmp trip over
        // each other's temporary tables.
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        let install = Instant::now();
        run(Command::new(program("mariadb-install-db").expect("Need::MariadbServer"))
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"]));
        let installed = install.elapsed();
        let port = free_port();
        let mut command = Command::new(program("mariadbd").expect("Need::MariadbServer"));
        command
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .arg(format!("--socket={}", dir.path().join("mysqld.sock").display()))
            .arg(format!("--port={port}"))
            .arg(format!("--log-error={}", dir.path().join("error.log").display()))
            .arg(format!("--pid-file={}", dir.path().join("mariadbd.pid").display()))
            .args(["--bind-address=127.0.0.1", "--skip-name-resolve", "--innodb-buffer-pool-size=32M"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if is_root() {
            command.arg("--user=root");
        }
        if let Some(certs) = certs {
            // Absolute paths: mariadbd reads them after moving into its data directory.
            command
                .arg(format!("--ssl-ca={}", certs.path("ca.pem")))
                .arg(format!("--ssl-cert={}", certs.path("server.pem")))
                .arg(format!("--ssl-key={}", certs.path("server.key")));
        }
        let child = command.spawn().expect("mariadbd starts");
        let server = PrivateMariadb { dir, child, port };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(60), "mariadbd did not start:\n{}", server.error_log());
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!(
            "private mariadbd on port {port}: installed in {} ms, serving {} ms later",
            installed.as_millis(),
            started.elapsed().as_millis()
        );
        server
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// root, over TCP without TLS (the server does not require it of root).
    fn admin_url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/mysql", self.port)
    }

    async fn admin(&self, sql: &str) {
        mysql_admin(&self.admin_url(), sql).await;
    }

    /// An empty database on this server, dropped with the returned [`Scratch`].
    async fn scratch(&self, name: &str) -> Scratch {
        self.admin(&format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")).await;
        Scratch::Mysql { admin_url: self.admin_url(), name: name.to_owned() }
    }

    /// `user` with [`PASSWORD`] on `database`, through `host`, with TLS `parameters`.
    fn url(&self, user: &str, host: &str, database: &str, parameters: &str) -> String {
        let query = if parameters.is_empty() { String::new() } else { format!("?{parameters}") };
        format!("mysql://{user}:{PASSWORD}@{host}:{}/{database}{query}", self.port)
    }
}

impl Drop for PrivateMariadb {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port of 33070-33079 that nothing listens on; each test of this binary gets its own.
fn free_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    loop {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(offset < 10, "no free port left in 33070-33079");
        let port = 33070 + offset;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A private server with TLS and the accounts the tests use: `tls_user` created `REQUIRE SSL`,
/// `x509_user` created `REQUIRE X509`, both allowed everything.
async fn tls_server() -> (PrivateMariadb, Certs) {
    let dir = tempfile::Builder::new().prefix("ab_mysql_tls").tempdir().unwrap();
    let certs = Certs::make(dir.path());
    let server = PrivateMariadb::start(dir, Some(&certs));
    server
        .admin(&format!(
            "CREATE USER tls_user@'%' IDENTIFIED BY '{PASSWORD}' REQUIRE SSL; GRANT ALL ON *.* TO tls_user@'%'; \
             CREATE USER x509_user@'%' IDENTIFIED BY '{PASSWORD}' REQUIRE X509; GRANT ALL ON *.* TO x509_user@'%'"
        ))
        .await;
    (server, certs)
}

/// A pool on `url` as start-up builds it, and whether its first connection works.
async fn connect(url: &str) -> Result<Db, String> {
    let parsed = url::parse_url(Some(url)).map_err(|e| e.to_string())?;
    let db = Db::new(parsed.target, &pool_options(), Default::default()).map_err(|e| e.to_string())?;
    authbridge::db::migrate::existing_tables(&db).await.map_err(|e| e.to_string())?;
    Ok(db)
}

/// The cipher of the pooled connection the query runs on: empty without TLS.
async fn cipher(db: &Db) -> String {
    texts(
        db,
        "SELECT CAST(VARIABLE_VALUE AS CHAR) AS value FROM information_schema.SESSION_STATUS \
         WHERE VARIABLE_NAME = 'Ssl_cipher'",
    )
    .await
    .concat()
}

/// What `authbridge serve` prints when it cannot start: its exit code and its output, which must
/// hold no password.
fn start_up_failure(url: &str) -> (Option<i32>, String) {
    start_up_failure_in(tempfile::tempdir().unwrap().path(), url)
}

/// [`start_up_failure`] with `dir` as the working directory.
fn start_up_failure_in(dir: &Path, url: &str) -> (Option<i32>, String) {
    let (code, all) = crate::binary::start_up_failure(dir, url);
    assert!(!all.contains("SECRET"), "a password was printed:\n{all}");
    (code, all)
}

/// The start-up refusal of `url`: the binary stops, and its last line says, in one line, where
/// (`endpoint`) and why (`reason`).
fn refused_at_start_up(url: &str, endpoint: &str, reason: &str) -> String {
    let (code, output) = start_up_failure(url);
    assert_ne!(code, Some(0), "{output}");
    let last = output.lines().last().unwrap_or_default().to_owned();
    assert!(last.starts_with("authbridge: "), "{output}");
    assert!(last.contains(endpoint) && last.contains(reason), "{endpoint} and {reason:?} in the last line:\n{output}");
    eprintln!("refused at start-up, as expected: {last}");
    last
}

/// A `REQUIRE SSL` account: reached over TLS with `sslaccept=strict` and the test CA in
/// `sslcert` (the pooled connection shows its cipher), and with the other ways of asking for TLS;
/// refused without TLS, with another CA and with a host name the certificate does not name,
/// each with one clear line from the real binary that holds no password.
async fn a_require_ssl_account_is_reached_over_verified_tls_only() {
    let (server, certs) = tls_server().await;
    let started = Instant::now();
    let ca = certs.path("ca.pem");
    let other_ca = certs.path("other-ca.pem");
    let url = |host: &str, parameters: &str| server.url("tls_user", host, "mysql", parameters);

    let strict = connect(&url("localhost", &format!("sslaccept=strict&sslcert={ca}"))).await.expect("strict + CA");
    let cipher_in_use = cipher(&strict).await;
    assert!(!cipher_in_use.is_empty(), "the pooled connection is encrypted");
    eprintln!("sslaccept=strict over {cipher_in_use}");
    // The same through every spelling that verifies the chain and the host name.
    for parameters in
        [format!("sslmode=VERIFY_IDENTITY&sslcert={ca}"), format!("ssl-mode=verify-full&sslcert={ca}&sslaccept=strict")]
    {
        let db = connect(&url("localhost", &parameters)).await.unwrap_or_else(|e| panic!("{parameters}: {e}"));
        assert!(!cipher(&db).await.is_empty(), "{parameters}");
    }
    // Verifying nothing (Prisma's default once TLS is asked for, MySQL's REQUIRED and PREFERRED)
    // still encrypts, whatever the CA and the name.
    for parameters in [
        format!("sslcert={other_ca}"),
        "sslaccept=accept_invalid_certs".to_owned(),
        "sslmode=REQUIRED".to_owned(),
        "sslmode=PREFERRED".to_owned(),
    ] {
        let db = connect(&url("127.0.0.1", &parameters)).await.unwrap_or_else(|e| panic!("{parameters}: {e}"));
        assert!(!cipher(&db).await.is_empty(), "{parameters}");
    }

    let port = server.port;
    // No TLS asked for: the server refuses the account, and the line says what to add.
    let line = refused_at_start_up(&url("127.0.0.1", ""), &format!("127.0.0.1:{port}"), "Access denied");
    assert!(line.contains("if the server requires TLS, add sslaccept=strict"), "{line}");
    refused_at_start_up(&url("127.0.0.1", "sslmode=DISABLED"), &format!("127.0.0.1:{port}"), "Access denied");
    // A CA that did not sign the server's certificate.
    let line = refused_at_start_up(
        &url("localhost", &format!("sslaccept=strict&sslcert={other_ca}")),
        &format!("localhost:{port}"),
        "the server's TLS certificate does not verify",
    );
    assert!(line.contains(&other_ca) && line.contains("UnknownIssuer"), "{line}");
    // Without sslcert, strict checks against the system's CAs, which know nothing of the test CA.
    let line = refused_at_start_up(
        &url("localhost", "sslaccept=strict"),
        &format!("localhost:{port}"),
        "the server's TLS certificate does not verify against the system's CA certificates",
    );
    assert!(line.contains("UnknownIssuer"), "{line}");
    // The right CA, but the certificate names `localhost`, not `127.0.0.1`.
    let line = refused_at_start_up(
        &url("127.0.0.1", &format!("sslaccept=strict&sslcert={ca}")),
        &format!("127.0.0.1:{port}"),
        "the server's TLS certificate does not verify",
    );
    assert!(line.contains("not valid for name"), "{line}");
    // A missing CA file is a configuration error (exit 2), before any connection.
    let (code, output) = start_up_failure(&url("localhost", "sslaccept=strict&sslcert=./no-such-ca.pem"));
    assert_eq!(code, Some(2), "{output}");
    assert!(output.contains("sslcert ./no-such-ca.pem: No such file"), "{output}");
    // Where Prisma 6 would have found a relative path (the schema's folder), the line says so.
    let project = tempfile::tempdir().unwrap();
    std::fs::create_dir(project.path().join("prisma")).unwrap();
    std::fs::copy(&ca, project.path().join("prisma/ca.pem")).unwrap();
    let (code, output) = start_up_failure_in(project.path(), &url("localhost", "sslaccept=strict&sslcert=./ca.pem"));
    assert_eq!(code, Some(2), "{output}");
    assert!(output.contains("from here it is prisma/ca.pem"), "{output}");
    eprintln!("MySQL TLS: REQUIRE SSL checks took {} ms", started.elapsed().as_millis());
}

/// `VERIFY_CA` verifies the chain: the right CA connects, another is refused. It is meant to
/// leave the host name unchecked, but mysql_async 0.36's rustls support cannot (it looks for
/// "NotValidForName" in an error rustls now words differently), so the name is checked as
/// well and the refusal says so. Should a later mysql_async skip the check, this test fails and
/// docs/managed-databases.md needs updating.
async fn verify_ca_verifies_the_chain_and_here_the_name_too() {
    let (server, certs) = tls_server().await;
    let url = |host: &str, ca: &str| {
        server.url("tls_user", host, "mysql", &format!("sslmode=VERIFY_CA&sslcert={}", certs.path(ca)))
    };
    let db = connect(&url("localhost", "ca.pem")).await.expect("VERIFY_CA with the right CA and name");
    assert!(!cipher(&db).await.is_empty());
    let refused = connect(&url("localhost", "other-ca.pem")).await.err().unwrap_or_default();
    assert!(refused.contains("does not verify") && refused.contains("UnknownIssuer"), "{refused}");
    let line = refused_at_start_up(
        &url("127.0.0.1", "ca.pem"),
        &format!("127.0.0.1:{}", server.port),
        "VERIFY_CA checks the host name here too",
    );
    assert!(line.contains("not valid for name"), "{line}");
}

/// A `REQUIRE X509` account: reached with a PKCS#12 client identity (`sslidentity` +
/// `sslpassword`) as OpenSSL 3 writes it and as older tools do, refused without one; a wrong
/// `sslpassword` and an EC identity stop start-up with a clear line that holds no password.
async fn a_require_x509_account_is_reached_with_a_pkcs12_identity() {
    let (server, certs) = tls_server().await;
    let ca = certs.path("ca.pem");
    let url = |parameters: &str| server.url("x509_user", "localhost", "mysql", parameters);
    for p12 in ["client.p12", "client-legacy.p12"] {
        let parameters =
            format!("sslidentity={}&sslpassword={P12_PASSWORD}&sslcert={ca}&sslaccept=strict", certs.path(p12));
        let db = connect(&url(&parameters)).await.unwrap_or_else(|e| panic!("{p12}: {e}"));
        assert!(!cipher(&db).await.is_empty(), "{p12}");
        let version = texts(
            &db,
            "SELECT CAST(VARIABLE_VALUE AS CHAR) AS value FROM information_schema.SESSION_STATUS \
             WHERE VARIABLE_NAME = 'Ssl_version'",
        )
        .await;
        assert!(version.concat().starts_with("TLSv1."), "{version:?}");
    }
    let port = server.port;
    // TLS, but no client certificate: MariaDB refuses the account.
    let line = refused_at_start_up(
        &url(&format!("sslaccept=strict&sslcert={ca}")),
        &format!("localhost:{port}"),
        "Access denied",
    );
    assert!(line.contains("give it with sslidentity="), "{line}");
    // The identity cannot be opened: a configuration error naming the file, not the password.
    let (code, output) = start_up_failure(&url(&format!(
        "sslidentity={}&sslpassword=SECRET-wrong&sslaccept=strict&sslcert={ca}",
        certs.path("client.p12")
    )));
    assert_eq!(code, Some(2), "{output}");
    assert!(output.contains("cannot open it as PKCS#12 with sslpassword"), "{output}");
    let (code, output) = start_up_failure(&url(&format!(
        "sslidentity={}&sslpassword={P12_PASSWORD}&sslaccept=strict&sslcert={ca}",
        certs.path("client-ec.p12")
    )));
    assert_eq!(code, Some(2), "{output}");
    assert!(output.contains("the client key is EC") && output.contains("RSA client keys only"), "{output}");
    let (code, output) = start_up_failure(&url(&format!(
        "sslidentity={}&sslpassword={P12_PASSWORD}&sslaccept=strict&sslcert={ca}",
        certs.path("client-v1.p12")
    )));
    assert_eq!(code, Some(2), "{output}");
    assert!(
        output.contains("rustls cannot use this client certificate") && output.contains("UnsupportedCertVersion"),
        "{output}"
    );
}

/// The real binary over TLS: `authbridge migrate` creates the tables as the `REQUIRE SSL`
/// account (so its own connection is TLS too), then `serve` answers on them; and every contract
/// fixture passes over a TLS pool.
async fn migrate_serve_and_the_contract_fixtures_over_tls() {
    let (server, certs) = tls_server().await;
    let tls = format!("sslaccept=strict&sslcert={}", certs.path("ca.pem"));
    let _served = server.scratch("ab_test_tls_served").await;
    let url = server.url("tls_user", "localhost", "ab_test_tls_served", &tls);
    let dir = tempfile::tempdir().unwrap();
    let output = command(&["migrate"]).current_dir(dir.path()).env("DATABASE_URL", &url).output().unwrap();
    let all = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{all}");
    assert!(!all.contains("SECRET"), "{all}");
    assert!(all.contains("sslmode=\"VERIFY_IDENTITY\"") || all.contains("sslmode=VERIFY_IDENTITY"), "{all}");
    let running = Server::start(dir.path(), &[("DATABASE_URL", url.as_str())]);
    let (status, body) = running.request(
        "POST",
        "/v1/adapter/createUser",
        &[("Content-Type", "application/json")],
        &json!({ "user": { "email": "tls@example.com" } }).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(running.request("GET", "/readyz", &[], "").0, 200);
    let log = running.stop();
    assert!(!log.contains("SECRET"), "{log}");
    assert!(log.contains("applied_migrations=0"), "serve found the tables migrate made:\n{log}");

    let started = Instant::now();
    let fixtures = crate::contract::fixtures_on(Backend::Mysql);
    for (index, name) in fixtures.iter().enumerate() {
        crate::contract::run_fixture_on(Backend::Mysql, name, async |settings| {
            let database = format!("ab_test_tls_{index}");
            let scratch = server.scratch(&database).await;
            let db = ready_db(&server.url("tls_user", "localhost", &database, &tls)).await;
            assert!(!cipher(&db).await.is_empty(), "{name} runs over TLS");
            TestApp::over(db, settings, Backend::Mysql, scratch)
        })
        .await;
    }
    eprintln!("MySQL TLS: {} contract fixtures over TLS in {} ms", fixtures.len(), started.elapsed().as_millis());
}

/// A server without TLS: `PREFERRED` falls back to a plain connection, as MySQL's clients do;
/// `REQUIRED` and Prisma's parameters refuse to go on without TLS, in one line.
async fn a_server_without_tls_is_used_only_when_tls_is_optional() {
    let server = PrivateMariadb::start(tempfile::Builder::new().prefix("ab_mysql_plain").tempdir().unwrap(), None);
    server.admin(&format!("CREATE USER app@'%' IDENTIFIED BY '{PASSWORD}'; GRANT ALL ON *.* TO app@'%'")).await;
    let url = |parameters: &str| server.url("app", "127.0.0.1", "mysql", parameters);
    let preferred = connect(&url("sslmode=PREFERRED")).await.expect("PREFERRED without TLS");
    assert_eq!(cipher(&preferred).await, "", "plain, since the server offers no TLS");
    let endpoint = format!("127.0.0.1:{}", server.port);
    for parameters in ["sslmode=REQUIRED", "sslaccept=strict"] {
        let line = refused_at_start_up(&url(parameters), &endpoint, "but the server does not offer TLS");
        assert!(line.contains("asks for TLS"), "{line}");
    }
    let err = match Db::new(
        url::parse_url(Some(&url("sslaccept=strict&sslcert=/nonexistent/ca.pem"))).unwrap().target,
        &pool_options(),
        Default::default(),
    ) {
        Err(StartError::MysqlSettings(e)) => e,
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a missing sslcert is refused before any connection"),
    };
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");
}
