"""The real authbridge binary on SQLite and PostgreSQL, and what the tests need around it.

- `AUTHBRIDGE_BIN`: the binary (default `<repo>/target/release/authbridge`).
- `TEST_POSTGRES_URL`: a PostgreSQL server the tests may create scratch databases on
  (`ab_test_py_*`, dropped afterwards).
- `CI=true`: a missing binary or `TEST_POSTGRES_URL` fails instead of skipping.

Tests that take the `backend` fixture (directly or through `server`) run once per backend; the
summary at the end counts them per backend.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from authbridge._models import format_datetime

REPO = Path(__file__).resolve().parents[3]
BINARY = Path(os.environ.get("AUTHBRIDGE_BIN") or REPO / "target" / "release" / "authbridge").resolve()
IN_CI = os.environ.get("CI") == "true"
BACKENDS = ("sqlite", "postgres")


def need(condition: bool, why: str) -> None:
    """Skips (printing why) when `condition` is false; under CI=true fails instead."""
    if not condition:
        if IN_CI:
            pytest.fail(f"CI=true: {why}", pytrace=False)
        pytest.skip(why)


# --- API keys: the one place that decides how the suite's keys are configured ----------------


@dataclass(frozen=True)
class Keys:
    """One key per role, each with only the scopes its role needs."""

    adapter: str = field(default_factory=lambda: "adapter-" + secrets.token_hex(16))
    reader: str = field(default_factory=lambda: "reader-" + secrets.token_hex(16))
    manager: str = field(default_factory=lambda: "manager-" + secrets.token_hex(16))
    maintenance: str = field(default_factory=lambda: "maintenance-" + secrets.token_hex(16))

    #: role -> scopes (API.md: `adapter`, `session:read`, `sessions:manage`, `maintenance`, `ops`).
    SCOPES: ClassVar[dict[str, str]] = {
        "adapter": "adapter",
        "reader": "session:read",
        "manager": "sessions:manage",
        "maintenance": "maintenance",
    }

    def key_file(self) -> str:
        """The `--api-key-file` contents for these keys."""
        if SCOPED_KEYS:
            return "".join(f"{role} {scopes} {getattr(self, role)}\n" for role, scopes in self.SCOPES.items())
        return "".join(f"{getattr(self, role)}\n" for role in self.SCOPES)


#: False while the server knows only plain keys (each has every scope); True once it has named,
#: scoped keys (`<name> <scopes> <key>` lines): then every key carries only its role's scope and
#: the `forbidden` tests run.
SCOPED_KEYS = True


# --- the binary ------------------------------------------------------------------------------


class Server:
    """`authbridge serve` on a free loopback port, with its log kept for assertions."""

    def __init__(self, database_url: str, workdir: Path, keys: Keys, *args: str) -> None:
        need(
            BINARY.is_file() and os.access(BINARY, os.X_OK), f"no authbridge binary at {BINARY}: cargo build --release"
        )
        self.database_url = database_url
        key_file = workdir / "keys"
        key_file.write_text(keys.key_file())
        key_file.chmod(0o600)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("AUTHBRIDGE_") and k not in ("DATABASE_URL", "RUST_LOG")
        }
        env["DATABASE_URL"] = database_url
        command = [
            str(BINARY),
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--api-key-file",
            str(key_file),
            *args,
        ]
        self.process = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        started = threading.Event()
        self.address = ""

        def read() -> None:
            assert self.process.stderr is not None
            for line in self.process.stderr:
                self.lines.append(line)
                if not started.is_set():
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue
                    if record.get("message") == "authbridge listening":
                        self.address = str(record["address"])
                        started.set()

        threading.Thread(target=read, daemon=True).start()
        if not started.wait(60):
            self.stop()
            raise RuntimeError("authbridge did not start:\n" + self.log())
        self.url = f"http://{self.address}"

    def log(self) -> str:
        return "".join(self.lines)

    def logged(self, text: str, within: float = 5.0) -> bool:
        """Whether `text` appears in the log within `within` seconds (the log is read by a thread)."""
        deadline = time.monotonic() + within
        while text not in self.log():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --- backends ---------------------------------------------------------------------------------


class Backend:
    """Makes empty databases on one backend and can make one unreachable."""

    name: str

    def new_database(self) -> str:
        raise NotImplementedError

    @contextmanager
    def unreachable(self, database_url: str) -> Iterator[None]:
        """While inside, queries on `database_url` fail as if the database were down."""
        raise NotImplementedError
        yield

    def close(self) -> None:
        pass


class Sqlite(Backend):
    name = "sqlite"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def new_database(self) -> str:
        return f"file:{self.directory / secrets.token_hex(4)}.db"

    @contextmanager
    def unreachable(self, database_url: str) -> Iterator[None]:
        # An embedded database cannot be stopped. The nearest thing: another process holds the
        # write lock beyond the server's busy timeout, and SQLite answers "database is locked",
        # which authbridge turns into 503 `unavailable`. In WAL mode reads do not wait for that
        # lock, so the outage tests run the server with `--session-update-age 0`: every session
        # read then slides the expiry, a write.
        import sqlite3

        holder = sqlite3.connect(database_url.removeprefix("file:"), isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()


class Postgres(Backend):
    name = "postgres"

    def __init__(self, admin_url: str) -> None:
        import psycopg

        self.admin_url = admin_url
        self.admin = psycopg.connect(admin_url, autocommit=True)
        self.databases: list[str] = []

    def new_database(self) -> str:
        name = f"ab_test_py_{os.getpid()}_{secrets.token_hex(4)}"
        self.admin.execute(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        parts = urlsplit(self.admin_url)
        return urlunsplit(parts._replace(path="/" + name))

    @contextmanager
    def unreachable(self, database_url: str) -> Iterator[None]:
        # The shared server stays up: only this scratch database refuses connections, and the
        # server's open ones are terminated (as a restart of the database would).
        name = urlsplit(database_url).path.lstrip("/")
        self.admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            self.admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            yield
        finally:
            self.admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')

    def close(self) -> None:
        for name in self.databases:
            self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.close()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    instance: Backend
    if request.param == "sqlite":
        instance = Sqlite(tmp_path_factory.mktemp("sqlite"))
    else:
        url = os.environ.get("TEST_POSTGRES_URL", "")
        need(bool(url), "TEST_POSTGRES_URL is not set (e.g. postgresql://postgres@127.0.0.1:5432/postgres)")
        instance = Postgres(url)
    yield instance
    instance.close()


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys()


StartServer = Callable[..., Server]


@pytest.fixture
def start_server(backend: Backend, keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartServer]:
    """Starts servers of this test's own, each on a fresh database; stops them afterwards."""
    started: list[Server] = []

    def start(*args: str) -> Server:
        server = Server(backend.new_database(), tmp_path_factory.mktemp("server"), keys, *args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def server(backend: Backend, keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The server most tests share, one per backend."""
    instance = Server(backend.new_database(), tmp_path_factory.mktemp("server"), keys)
    yield instance
    instance.stop()


# --- the adapter RPC, for setting up users and sessions as Auth.js core would --------------


class Adapter:
    """`POST /v1/adapter/{method}` with the adapter key."""

    def __init__(self, server: Server, keys: Keys) -> None:
        self.http = httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {keys.adapter}"}, timeout=10)

    def call(self, method: str, body: dict[str, Any]) -> Any:
        response = self.http.post(f"/v1/adapter/{method}", json=body)
        assert response.status_code == 200, (method, response.status_code, response.text)
        return response.json()

    def create_user(self, **user: Any) -> dict[str, Any]:
        user.setdefault("email", f"{secrets.token_hex(6)}@example.com")
        if isinstance(user.get("emailVerified"), datetime):
            user["emailVerified"] = format_datetime(user["emailVerified"])
        result: dict[str, Any] = self.call("createUser", {"user": user})
        return result

    def create_session(self, user_id: str, expires: datetime | None = None, token: str | None = None) -> dict[str, Any]:
        session = {
            "userId": user_id,
            "expires": format_datetime(expires or now() + timedelta(days=29)),
            "sessionToken": token or secrets.token_hex(32),
        }
        result: dict[str, Any] = self.call("createSession", {"session": session})
        return result


@pytest.fixture(scope="session")
def adapter(server: Server, keys: Keys) -> Iterator[Adapter]:
    instance = Adapter(server, keys)
    yield instance
    instance.http.close()


def now() -> datetime:
    """Now in UTC, truncated to milliseconds as authbridge stores dates."""
    moment = datetime.now(timezone.utc)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


# --- a count of the tests per backend at the end of the run -----------------------------------


def pytest_terminal_summary(terminalreporter: Any) -> None:
    counts: dict[str, dict[str, int]] = {}
    for outcome in ("passed", "failed", "skipped", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") != "call" and outcome != "skipped" and outcome != "error":
                continue
            params = report.nodeid.rpartition("[")[2].rstrip("]").split("-") if report.nodeid.endswith("]") else []
            backend = next((b for b in BACKENDS if b in params), "none")
            counts.setdefault(backend, {}).setdefault(outcome, 0)
            counts[backend][outcome] += 1
    terminalreporter.section("tests per backend")
    for backend in (*BACKENDS, "none"):
        if backend in counts:
            label = "no server" if backend == "none" else backend
            terminalreporter.write_line(
                f"{label}: " + ", ".join(f"{n} {o}" for o, n in sorted(counts[backend].items()))
            )
