//! The harness of this binary (`harness = false` in Cargo.toml; libtest-mimic prints and filters
//! as `cargo test` does). Every test is registered with [`tests!`] in its module, or generated
//! (the contract fixtures); a backend test runs once per backend it names. What a test needs that
//! a machine may lack (a database URL, a tool) is a [`Need`], and whether it is here is decided in
//! one place, [`Need::lookup`], once per run: a test whose need is missing is reported as ignored
//! with the reason, and the run prints one `SKIPPED` line per missing need; with CI=true those
//! tests fail instead. After the run one line per backend says how many of its tests ran.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Mutex, OnceLock};

use libtest_mimic::{Arguments, Completion, Trial};

use crate::support::{Backend, Schema};

/// The harness's own test (its module cannot use `tests!`, whose `fn tests` would clash with the
/// macro's name here).
pub fn own_tests() -> Vec<Test> {
    let path = concat!(module_path!(), "::every_test_is_registered_with_the_harness");
    vec![Test::new(path, &[], None, every_test_is_registered_with_the_harness)]
}

/// With `harness = false`, a `#[test]` or `#[tokio::test]` function is compiled out without a
/// word: it would never run. (A `tests!` entry for a missing function does not compile, and a
/// function no entry names is dead code, which clippy refuses.)
fn every_test_is_registered_with_the_harness() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    let mut attributes = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("tests/it") {
        let path = entry.expect("an entry").path();
        let text = std::fs::read_to_string(&path).expect("a source file");
        for (number, line) in text.lines().enumerate() {
            let line = line.trim_start();
            if line.starts_with("#[test") || line.starts_with("#[tokio::test") {
                attributes.push(format!("{}:{}: {line}", path.display(), number + 1));
            }
        }
    }
    assert!(attributes.is_empty(), "register these with tests! instead:\n{}", attributes.join("\n"));
}

/// `CI=true` (or `1`): nothing may be skipped.
fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Something a test needs that a machine may not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    /// A PostgreSQL server the tests may create databases on: `TEST_POSTGRES_URL`.
    Postgres,
    /// A MySQL / MariaDB server likewise: `TEST_MYSQL_URL`.
    Mysql,
    /// Debian's PgBouncer, which the tests start in front of `TEST_POSTGRES_URL`.
    PgBouncer,
    /// PostgreSQL's server programs (`initdb`, `pg_ctl`), for private clusters.
    PostgresServer,
    /// MariaDB's server programs (`mariadb-install-db`, `mariadbd`), for private servers.
    MariadbServer,
    Openssl,
    /// Debian's snakeoil certificate, which the shared PostgreSQL server presents.
    Snakeoil,
    /// The Prisma 6.19 CLI of `tests/prisma/prisma6` (installed by `tests/prisma/ci.sh`).
    PrismaCli,
}

impl Need {
    const ALL: [Need; 8] = [
        Need::Postgres,
        Need::Mysql,
        Need::PgBouncer,
        Need::PostgresServer,
        Need::MariadbServer,
        Need::Openssl,
        Need::Snakeoil,
        Need::PrismaCli,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Need::Postgres => "postgres",
            Need::Mysql => "mysql",
            Need::PgBouncer => "pgbouncer",
            Need::PostgresServer => "postgres-server",
            Need::MariadbServer => "mariadb-server",
            Need::Openssl => "openssl",
            Need::Snakeoil => "snakeoil",
            Need::PrismaCli => "prisma-cli",
        }
    }

    /// What meets the need (a URL or a path), or why it is missing: looked up once per run.
    fn lookup(self) -> &'static Result<String, String> {
        static FOUND: OnceLock<Vec<Result<String, String>>> = OnceLock::new();
        let found = FOUND.get_or_init(|| Need::ALL.iter().map(|need| need.find()).collect());
        &found[Need::ALL.iter().position(|need| *need == self).expect("every need is in ALL")]
    }

    fn find(self) -> Result<String, String> {
        let path =
            |found: Option<PathBuf>, why: &str| found.map(|p| p.display().to_string()).ok_or_else(|| why.to_owned());
        match self {
            Need::Postgres => url("TEST_POSTGRES_URL"),
            Need::Mysql => url("TEST_MYSQL_URL"),
            Need::PgBouncer => path(program("pgbouncer"), "pgbouncer is not installed (apt-get install pgbouncer)"),
            Need::PostgresServer => {
                path(postgres_server_binaries(), "no initdb in /usr/lib/postgresql/*/bin (apt-get install postgresql)")
            }
            Need::MariadbServer => match (program("mariadb-install-db"), program("mariadbd")) {
                (Some(_), Some(daemon)) => Ok(daemon.display().to_string()),
                _ => Err("mariadb-install-db or mariadbd is not installed (apt-get install mariadb-server)".into()),
            },
            Need::Openssl => path(program("openssl"), "openssl is not installed (apt-get install openssl)"),
            Need::Snakeoil => {
                let certificate = Path::new("/etc/ssl/certs/ssl-cert-snakeoil.pem");
                path(
                    certificate.exists().then(|| certificate.to_owned()),
                    "no snakeoil certificate (apt-get install ssl-cert)",
                )
            }
            Need::PrismaCli => {
                let root = Path::new(env!("CARGO_MANIFEST_DIR"));
                let installed = root.join("tests/prisma/prisma6/node_modules/.bin/prisma").exists();
                path(
                    installed.then(|| root.join("tests/prisma/bin/prisma6")),
                    "the Prisma CLI is not installed (npm ci in tests/prisma/prisma6, or tests/prisma/ci.sh)",
                )
            }
        }
    }

    /// Whether a missing need fails its tests instead of skipping them. The Prisma CLI is
    /// installed by `tests/prisma/ci.sh`, which asks for its tests with
    /// `AUTHBRIDGE_PRISMA_TESTS=required`; `.ci/run`'s first `cargo test` runs before it.
    fn required(self) -> bool {
        match self {
            Need::PrismaCli => std::env::var("AUTHBRIDGE_PRISMA_TESTS").is_ok_and(|v| v == "required"),
            _ => ci(),
        }
    }

    fn required_by(self) -> &'static str {
        match self {
            Need::PrismaCli => "AUTHBRIDGE_PRISMA_TESTS=required",
            _ => "CI=true",
        }
    }

    /// What meets the need. Only a test that declares the need may ask (the harness then ran it
    /// only where the need is met).
    pub fn get(self) -> &'static str {
        match self.lookup() {
            Ok(found) => found,
            Err(why) => panic!("{why}: a test that uses {} must declare Need::{self:?}", self.name()),
        }
    }
}

fn url(var: &str) -> Result<String, String> {
    std::env::var(var).ok().filter(|url| !url.is_empty()).ok_or_else(|| format!("{var} not set"))
}

/// A program on PATH or in /usr/sbin and /usr/bin (where Debian puts server programs, outside a
/// user's PATH).
pub fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The newest `/usr/lib/postgresql/<version>/bin` that has `initdb`.
fn postgres_server_binaries() -> Option<PathBuf> {
    std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .max()
}

/// What a test runs on: a backend, or a backend with a schema variant.
pub trait Param: Copy + Send + 'static {
    fn backend(self) -> Backend;
    /// The last part of the test's name.
    fn suffix(self) -> String;
}

impl Param for Backend {
    fn backend(self) -> Backend {
        self
    }
    fn suffix(self) -> String {
        self.name().to_owned()
    }
}

impl Param for crate::support::Cached {
    fn backend(self) -> Backend {
        self.0
    }
    fn suffix(self) -> String {
        format!("{}_cached", self.0.name())
    }
}

impl Param for (Backend, Schema) {
    fn backend(self) -> Backend {
        self.0
    }
    fn suffix(self) -> String {
        match self.1 {
            Schema::Migrations => self.0.name().to_owned(),
            Schema::WithoutForeignKeys => format!("{}_without_foreign_keys", self.0.name()),
        }
    }
}

/// One test: its name, what it needs, and its body.
pub struct Test {
    name: String,
    backend: Option<Backend>,
    needs: Vec<Need>,
    ignore: Option<&'static str>,
    run: Box<dyn FnOnce() + Send>,
}

impl Test {
    /// `path` is the test function's path (`module_path!()::name`).
    pub fn new(path: &str, needs: &[Need], ignore: Option<&'static str>, run: impl FnOnce() + Send + 'static) -> Test {
        let name = path.strip_prefix("it::").unwrap_or(path).to_owned();
        Test { name, backend: None, needs: needs.to_vec(), ignore, run: Box::new(run) }
    }

    /// The test on one backend: named `path::<backend>`, needing what the backend needs too.
    pub fn on<P: Param>(
        param: P,
        path: &str,
        needs: &[Need],
        ignore: Option<&'static str>,
        run: impl FnOnce() + Send + 'static,
    ) -> Test {
        let mut test = Test::new(&format!("{path}::{}", param.suffix()), needs, ignore, run);
        test.backend = Some(param.backend());
        test.needs.extend(param.backend().needs());
        test
    }

    fn missing(&self) -> Option<Need> {
        self.needs.iter().copied().find(|need| need.lookup().is_err())
    }

    fn into_trial(self) -> Trial {
        let missing = self.missing();
        let backend = self.backend;
        let run = self.run;
        Trial::ignorable_test(self.name, move || {
            let outcome = match missing {
                Some(need) => Err(need),
                None => Ok(catch_unwind(AssertUnwindSafe(run))),
            };
            count(backend, |counts| match &outcome {
                Ok(_) => counts.ran += 1,
                Err(_) => counts.not_run += 1,
            });
            match outcome {
                Ok(Ok(())) => Ok(Completion::Completed),
                Ok(Err(panic)) => resume_unwind(panic),
                Err(need) => {
                    let why = need.lookup().as_ref().expect_err("the need is missing");
                    if need.required() {
                        Err(format!("{} but {why}: the tests that need {} must run", need.required_by(), need.name())
                            .into())
                    } else {
                        Ok(Completion::ignored_with(format!("SKIPPED {}: {why}", need.name())))
                    }
                }
            }
        })
        .with_ignored_flag(self.ignore.is_some())
    }
}

/// Runs an async test body on a runtime of its own, as `#[tokio::test(flavor = "multi_thread",
/// worker_threads = 2)]` did.
pub fn block_on(test: impl Future<Output = ()>) {
    runtime(2).block_on(test)
}

pub fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().expect("a runtime")
}

/// Registers a module's tests: generates `pub fn tests() -> Vec<Test>` for `main.rs`. One group
/// per line, `async` for `async fn`s, `sync` for plain ones; `on SET` runs the test once per
/// backend of the set (its function takes the backend, or the `(Backend, Schema)` pair), `needs
/// [..]` names what else it needs, `ignore "why"` makes it run only with `--ignored`:
///
/// ```ignore
/// tests! {
///     async on BACKENDS: garbage_bodies_get_4xx_problems, bodies_over_the_limit_get_413;
///     sync needs [Need::Openssl]: certificates_are_made_with_openssl;
/// }
/// ```
macro_rules! tests {
    (@group $all:ident) => {};
    (@group $all:ident $kind:ident $(on $set:tt)? $(needs $needs:tt)? $(ignore $why:literal)? : $($name:ident),+ ; $($rest:tt)*) => {
        $crate::harness::tests!(@names $all [$kind [$($set)?] [$($needs)?] [$($why)?]] $($name)+);
        $crate::harness::tests!(@group $all $($rest)*);
    };
    (@names $all:ident $group:tt $($name:ident)+) => {
        $( $crate::harness::tests!(@one $all $group $name); )+
    };
    (@one $all:ident [$kind:ident [$($set:tt)?] [$($needs:tt)?] [$($why:literal)?]] $name:ident) => {{
        let path = concat!(module_path!(), "::", stringify!($name));
        let needs: &[$crate::harness::Need] = $crate::harness::tests!(@needs $($needs)?);
        let ignore: Option<&'static str> = $crate::harness::tests!(@ignore $($why)?);
        $crate::harness::tests!(@add $all $kind [$($set)?] path needs ignore $name);
    }};
    (@needs) => { &[] };
    (@needs $needs:tt) => { &$needs };
    (@ignore) => { None };
    (@ignore $why:literal) => { Some($why) };
    (@add $all:ident async [$set:tt] $path:ident $needs:ident $ignore:ident $name:ident) => {
        for &param in $set.iter() {
            $all.push($crate::harness::Test::on(param, $path, $needs, $ignore, move || {
                $crate::harness::block_on($name(param))
            }));
        }
    };
    (@add $all:ident sync [$set:tt] $path:ident $needs:ident $ignore:ident $name:ident) => {
        for &param in $set.iter() {
            $all.push($crate::harness::Test::on(param, $path, $needs, $ignore, move || $name(param)));
        }
    };
    (@add $all:ident async [] $path:ident $needs:ident $ignore:ident $name:ident) => {
        $all.push($crate::harness::Test::new($path, $needs, $ignore, || $crate::harness::block_on($name())));
    };
    (@add $all:ident sync [] $path:ident $needs:ident $ignore:ident $name:ident) => {
        $all.push($crate::harness::Test::new($path, $needs, $ignore, $name));
    };
    ($($group:tt)*) => {
        pub fn tests() -> Vec<$crate::harness::Test> {
            let mut all = Vec::new();
            $crate::harness::tests!(@group all $($group)*);
            all
        }
    };
}
pub(crate) use tests;

#[derive(Default)]
struct Counts {
    ran: usize,
    not_run: usize,
}

/// Tests that ran and that were not run for a missing need, per backend (`None`: the tests of no backend).
static COUNTS: Mutex<BTreeMap<Option<Backend>, Counts>> = Mutex::new(BTreeMap::new());

fn count(backend: Option<Backend>, add: impl FnOnce(&mut Counts)) {
    add(COUNTS.lock().unwrap_or_else(|e| e.into_inner()).entry(backend).or_default());
}

/// Runs `tests` as `cargo test` would, with the arguments it was given.
pub fn main(tests: Vec<Test>) -> ExitCode {
    let mut args = Arguments::from_args();
    // libtest reads RUST_TEST_THREADS; libtest-mimic only the flag.
    if args.test_threads.is_none() {
        args.test_threads = std::env::var("RUST_TEST_THREADS").ok().and_then(|n| n.parse().ok());
    }
    let mut tests = tests;
    tests.sort_by(|a, b| a.name.cmp(&b.name));
    let mut selected: BTreeMap<Need, usize> = BTreeMap::new();
    let mut trials = Vec::new();
    for test in tests {
        let missing = test.missing();
        let trial = test.into_trial();
        if let Some(need) = missing
            && !args.is_filtered_out(&trial)
            && !args.is_ignored(&trial)
        {
            *selected.entry(need).or_default() += 1;
        }
        trials.push(trial);
    }
    if !args.list {
        let mut stderr = std::io::stderr().lock();
        for (need, tests) in &selected {
            let why = need.lookup().as_ref().expect_err("missing");
            let line = if need.required() {
                format!(
                    "MISSING {}: {why}, and {} asks for its {tests} tests: they fail",
                    need.name(),
                    need.required_by()
                )
            } else {
                format!("SKIPPED {}: {why} ({tests} tests ignored)", need.name())
            };
            let _ = writeln!(stderr, "{line}");
        }
    }
    let conclusion = libtest_mimic::run(&args, trials);
    if !args.list {
        summary();
    }
    conclusion.exit_code()
}

/// One line per backend: how many of its tests ran (passed or failed), and how many were not run
/// because something they need is missing.
fn summary() {
    let counts = COUNTS.lock().unwrap_or_else(|e| e.into_inner());
    let mut stderr = std::io::stderr().lock();
    for (backend, Counts { ran, not_run }) in counts.iter() {
        let what = backend.map_or_else(|| "tests of no backend".to_owned(), |b| format!("backend {}", b.name()));
        let _ = writeln!(stderr, "{what}: {ran} ran, {not_run} not run");
    }
}
