// Starts the real authbridge binary for the integration tests: on a temporary SQLite file, or on a
// fresh PostgreSQL or MySQL/MariaDB database created from TEST_POSTGRES_URL / TEST_MYSQL_URL
// (required when CI=true).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export type Backend = "sqlite" | "postgresql" | "mysql";

export interface Service {
  backend: Backend;
  url: string;
  apiKey: string;
  /** What the service printed, for failure messages. */
  logs(): string;
  stop(): Promise<void>;
}

const ADAPTER_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export function binaryPath(): string {
  const bin = process.env.AUTHBRIDGE_BIN ?? join(ADAPTER_DIR, "../target/release/authbridge");
  if (!existsSync(bin)) {
    throw new Error(`authbridge binary not found at ${bin}: run \`cargo build --release\` or set AUTHBRIDGE_BIN`);
  }
  return bin;
}

/** The backends to run on. PostgreSQL and MySQL are skipped (with a reason) only outside CI, or
 * when ADAPTER_BACKENDS lists others (ci.sh's second run, with secrets at rest, is SQLite only). */
export function backends(): { backend: Backend; skip: string | false }[] {
  const only = process.env.ADAPTER_BACKENDS?.split(",").map((b) => b.trim());
  const server = (variable: string, name: string): string | false => {
    if (only && !only.includes(name.toLowerCase())) return `ADAPTER_BACKENDS=${only.join(",")}`;
    if (process.env[variable]) return false;
    if (process.env.CI === "true")
      throw new Error(`CI=true but ${variable} is not set: the ${name} integration tests must run`);
    return `${variable} is not set`;
  };
  return [
    { backend: "sqlite", skip: false },
    { backend: "postgresql", skip: server("TEST_POSTGRES_URL", "PostgreSQL") },
    { backend: "mysql", skip: server("TEST_MYSQL_URL", "MySQL") },
  ];
}

async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.unref();
    server.on("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? ok(address.port) : fail(new Error("no port"))));
    });
  });
}

function psql(url: string, sql: string) {
  const result = spawnSync("psql", [url, "-v", "ON_ERROR_STOP=1", "-qtAc", sql], { encoding: "utf8" });
  if (result.error || result.status !== 0) {
    throw new Error(`psql failed: ${result.error?.message ?? result.stderr}`);
  }
}

/** Runs SQL on the server of a mysql:// URL with the mariadb client (Debian's mariadb-client). */
function mysql(url: string, sql: string) {
  const { hostname, port, username, password } = new URL(url);
  const args = ["-h", hostname, "-P", port || "3306", "-u", decodeURIComponent(username || "root"), "-e", sql];
  const env = { ...process.env, MYSQL_PWD: decodeURIComponent(password) };
  const result = spawnSync("mariadb", args, { encoding: "utf8", env });
  if (result.error || result.status !== 0) {
    throw new Error(`mariadb failed: ${result.error?.message ?? result.stderr}`);
  }
}

/** Replaces the database name of a postgresql:// or mysql:// URL. */
function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

const AT_REST_VARIABLES = ["AUTHBRIDGE_SESSION_TOKEN_STORAGE", "AUTHBRIDGE_ENCRYPTION_KEYS"];

export async function startService(backend: Backend, env: Record<string, string> = {}): Promise<Service> {
  const bin = binaryPath();
  const apiKey = randomBytes(24).toString("hex");
  let databaseUrl: string;
  let cleanup: () => void;
  if (backend === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), "ab_adapter_"));
    databaseUrl = `file:${join(dir, "x.db")}`;
    cleanup = () => rmSync(dir, { recursive: true, force: true });
  } else if (backend === "mysql") {
    const admin = process.env.TEST_MYSQL_URL!;
    const name = `ab_adapter_${randomBytes(6).toString("hex")}`;
    mysql(admin, `CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    databaseUrl = withDatabase(admin, name);
    cleanup = () => mysql(admin, `DROP DATABASE IF EXISTS \`${name}\``);
  } else {
    const admin = process.env.TEST_POSTGRES_URL!;
    const name = `ab_adapter_${randomBytes(6).toString("hex")}`;
    psql(admin, `CREATE DATABASE "${name}"`);
    databaseUrl = withDatabase(admin, name);
    cleanup = () => psql(admin, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  }

  let lastError: unknown;
  // A port probed free can be taken before the service binds it; try another one then.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    let output = "";
    const child: ChildProcess = spawn(bin, [], {
      env: {
        PATH: process.env.PATH ?? "",
        DATABASE_URL: databaseUrl,
        AUTHBRIDGE_BIND: `127.0.0.1:${port}`,
        AUTHBRIDGE_API_KEYS: apiKey,
        RUST_LOG: "warn",
        // How secrets are stored at rest (ci.sh's second run); nothing else of this environment.
        ...Object.fromEntries(
          AT_REST_VARIABLES.flatMap((name) => (process.env[name] ? [[name, process.env[name]]] : [])),
        ),
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (chunk) => (output += chunk));
    child.stderr?.on("data", (chunk) => (output += chunk));
    const exited = new Promise<number | null>((ok) => child.once("exit", (code) => ok(code)));
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
    };
    try {
      await waitReady(url, exited);
      let stopped = false;
      return {
        backend,
        url,
        apiKey,
        logs: () => output,
        stop: async () => {
          if (stopped) return;
          stopped = true;
          await stop();
          cleanup();
        },
      };
    } catch (error) {
      await stop();
      lastError = new Error(`authbridge did not become ready on ${backend}: ${String(error)}\n${output}`);
    }
  }
  cleanup();
  throw lastError;
}

async function waitReady(url: string, exited: Promise<number | null>): Promise<void> {
  let gone: number | null | undefined;
  void exited.then((code) => (gone = code));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (gone !== undefined) throw new Error(`the process exited with ${gone}`);
    try {
      const response = await fetch(`${url}/readyz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((ok) => setTimeout(ok, 50));
  }
  throw new Error("no 200 from /readyz within 30 s");
}

/** A service whose process can be replaced on the same port (SO_REUSEPORT), as a host restart does it. */
export interface RestartableService {
  url: string;
  apiKey: string;
  /** Starts a new process on the port, waits until it listens, then SIGTERMs the old one and waits for its exit. */
  restart(): Promise<void>;
  logs(): string;
  stop(): Promise<void>;
}

/** Starts `authbridge --reuse-port` on SQLite; see {@link RestartableService}. */
export async function startRestartable(): Promise<RestartableService> {
  const bin = binaryPath();
  const apiKey = randomBytes(24).toString("hex");
  const dir = mkdtempSync(join(tmpdir(), "ab_adapter_"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let output = "";
  const launch = async () => {
    const child: ChildProcess = spawn(bin, [], {
      env: {
        PATH: process.env.PATH ?? "",
        DATABASE_URL: `file:${join(dir, "x.db")}`,
        AUTHBRIDGE_BIND: `127.0.0.1:${port}`,
        AUTHBRIDGE_API_KEYS: apiKey,
        AUTHBRIDGE_REUSE_PORT: "true",
        RUST_LOG: "warn,authbridge::startup=info",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise<number | null>((ok) => child.once("exit", (code) => ok(code)));
    const listening = new Promise<void>((ok, fail) => {
      let seen = "";
      const onData = (chunk: Buffer) => {
        output += chunk;
        seen += chunk;
        if (seen.includes("authbridge listening")) ok();
      };
      child.stdout?.on("data", onData);
      child.stderr?.on("data", onData);
      void exited.then((code) => fail(new Error(`authbridge exited with ${code} before listening:\n${output}`)));
    });
    await listening;
    return {
      stop: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
        const code = await exited;
        if (code !== 0) throw new Error(`authbridge exited with ${code} on SIGTERM:\n${output}`);
      },
    };
  };
  let current = await launch();
  await waitReady(url, new Promise(() => {}));
  return {
    url,
    apiKey,
    restart: async () => {
      const next = await launch();
      const old = current;
      current = next;
      await old.stop();
    },
    logs: () => output,
    stop: async () => {
      await current.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
