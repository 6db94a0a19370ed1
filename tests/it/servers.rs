//! Servers the tests start for themselves: Debian's PgBouncer in transaction mode in front of
//! TEST_POSTGRES_URL, and private PostgreSQL clusters made with `initdb`. Each needs a tool that
//! `.ci/run` installs (`Need::PgBouncer`, `Need::PostgresServer`): the harness runs a test that
//! needs one only where it is installed.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::harness::Need;

/// Ports reserved for the PgBouncer instances of these tests.
const PGBOUNCER_PORTS: std::ops::RangeInclusive<u16> = 6440..=6449;
/// The pool PgBouncer keeps per database, as large as the test pools (`support::pool_options`).
pub const PGBOUNCER_POOL_SIZE: usize = 8;

/// Whether the tests run as root (CI does), where server programs must switch to another user.
pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// Runs a command that must succeed.
pub fn run(command: &mut Command) {
    let output = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn free_port(range: std::ops::RangeInclusive<u16>) -> u16 {
    let what = format!("a free port in {}-{}", range.start(), range.end());
    range.into_iter().find(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok()).expect(&what)
}

fn wait_for_port(port: u16, log: &Path) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "nothing listens on port {port}:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// PgBouncer 1.18 in `pool_mode = transaction` in front of TEST_POSTGRES_URL's server, one per
/// test process, for every database there (`* =`). It lives as long as the test process: it is
/// started under a small shell that kills it when the process's pipe to that shell closes, which
/// also happens when the test process dies.
pub struct PgBouncer {
    pub port: u16,
    _dir: tempfile::TempDir,
    _watchdog: Child,
}

impl PgBouncer {
    /// The shared instance, for a test of `Backend::PgBouncer`.
    pub fn shared() -> &'static PgBouncer {
        static SHARED: OnceLock<PgBouncer> = OnceLock::new();
        SHARED.get_or_init(PgBouncer::start)
    }

    fn start() -> PgBouncer {
        let upstream = crate::support::postgres_admin_url();
        let binary = Need::PgBouncer.get();
        let upstream = ::url::Url::parse(&upstream).expect("TEST_POSTGRES_URL is a URL");
        let user = match upstream.username() {
            "" => "postgres",
            user => user,
        };
        let password = upstream.password().unwrap_or_default();
        let dir = tempfile::Builder::new().prefix("ab_pgbouncer").tempdir().unwrap();
        let port = free_port(PGBOUNCER_PORTS);
        let log = dir.path().join("pgbouncer.log");
        // The server authenticates the clients' user itself (trust here); PgBouncer only needs to
        // know the name, and passes the password on when the server asks for one.
        std::fs::write(dir.path().join("users.txt"), format!("\"{user}\" \"{password}\"\n")).unwrap();
        let ini = format!(
            "[databases]\n* = host={host} port={upstream_port}\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\n\
             listen_port = {port}\nunix_socket_dir =\nauth_type = trust\nauth_file = {dir}/users.txt\n\
             pool_mode = transaction\ndefault_pool_size = {pool}\nmax_client_conn = 2000\n\
             server_idle_timeout = 10\nserver_reset_query =\nlogfile = {log}\npidfile = {dir}/pgbouncer.pid\n",
            host = upstream.host_str().unwrap_or("127.0.0.1"),
            upstream_port = upstream.port().unwrap_or(5432),
            dir = dir.path().display(),
            pool = PGBOUNCER_POOL_SIZE,
            log = log.display(),
        );
        let ini_path = dir.path().join("pgbouncer.ini");
        std::fs::write(&ini_path, ini).unwrap();
        // PgBouncer refuses to run as root; `-u` makes it drop to the postgres user.
        let mut args = vec![binary.to_owned()];
        if is_root() {
            run(Command::new("chown").args(["-R", "postgres"]).arg(dir.path()));
            args.extend(["-u".to_owned(), "postgres".to_owned()]);
        }
        // -q: the log goes to its file only (shown when PgBouncer does not come up).
        args.extend(["-q".to_owned(), ini_path.display().to_string()]);
        let mut watchdog = Command::new("sh")
            .args(["-c", r#""$@" & pid=$!; read -r _; kill "$pid""#, "sh"])
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("sh starts pgbouncer");
        // Kept open until the process ends: its end is the watchdog's signal.
        let _ = watchdog.stdin.as_mut().expect("stdin").flush();
        wait_for_port(port, &log);
        PgBouncer { port, _dir: dir, _watchdog: watchdog }
    }

    /// `database` on TEST_POSTGRES_URL's server, reached through this PgBouncer with Prisma's flag.
    pub fn url(&self, admin_url: &str, database: &str) -> String {
        let mut url = ::url::Url::parse(admin_url).expect("TEST_POSTGRES_URL is a URL");
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(self.port)).unwrap();
        url.set_path(&format!("/{database}"));
        url.set_query(Some("pgbouncer=true"));
        url.to_string()
    }
}

/// A private PostgreSQL cluster in a temporary directory, made by `initdb` (as the `postgres` OS
/// user when run as root), stopped and removed on drop (also when the test fails).
pub struct PrivatePg {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

impl PrivatePg {
    /// `initdb` on a free port of `ports`; `configure` may write into the data directory (its
    /// argument) before the server starts, e.g. `postgresql.auto.conf`, `pg_hba.conf`, keys. For
    /// a test that declares `Need::PostgresServer`.
    pub fn create(ports: std::ops::RangeInclusive<u16>, configure: impl FnOnce(&Path)) -> PrivatePg {
        let bin = Path::new(Need::PostgresServer.get());
        let port = free_port(ports);
        let dir = tempfile::Builder::new().prefix("ab_private_pg").tempdir().unwrap();
        if is_root() {
            run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()));
        }
        let pg = PrivatePg { dir, bin: bin.to_owned(), port };
        pg.as_owner(&["initdb", "-D", &pg.data(), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"]);
        configure(Path::new(&pg.data()));
        if is_root() {
            run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(pg.dir.path()));
        }
        pg.start();
        pg
    }

    pub fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// The superuser's URL (trust over TCP unless `configure` changed pg_hba.conf).
    pub fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs a server binary as the cluster's owner (initdb and postgres refuse root).
    fn as_owner(&self, args: &[&str]) {
        let program = self.bin.join(args[0]);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        command.args(&args[1..]).current_dir(self.dir.path());
        run(&mut command);
    }

    pub fn start(&self) {
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.dir.path().display());
        let log = self.dir.path().join("postgres.log").display().to_string();
        self.as_owner(&["pg_ctl", "-D", &self.data(), "-l", &log, "-o", &options, "-w", "start"]);
    }

    pub fn stop(&self, mode: &str) {
        self.as_owner(&["pg_ctl", "-D", &self.data(), "-m", mode, "-w", "stop"]);
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = Command::new(if is_root() { "runuser" } else { "env" })
            .args(if is_root() { vec!["-u", "postgres", "--"] } else { vec![] })
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .output();
    }
}
