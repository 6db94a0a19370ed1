// Starts and stops the real processes the browser test needs: authbridge (release binary), the
// Next.js production server (`next start` of the existing `next build`) and the browser.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

import { launchBrowser as launchChromium } from "../../shared/browser.mjs";

export const exampleDir = fileURLToPath(new URL("..", import.meta.url));
export const repositoryDir = fileURLToPath(new URL("../../..", import.meta.url));

/** A child process whose output goes to a log file, so that a failure can show it. */
export function startProcess(name, command, args, { env, cwd, logFile }) {
  const log = createWriteStream(logFile);
  const child = spawn(command, args, { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
  // Two streams into one file: neither may end it; "close" comes after both are drained.
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  const exited = new Promise((resolve) =>
    child.once("close", (code, signal) => log.end(() => resolve({ code, signal }))),
  );
  return {
    name,
    logFile,
    child,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const timeout = sleep(10_000).then(() => "timeout");
      if ((await Promise.race([exited, timeout])) === "timeout") child.kill("SIGKILL");
      await exited;
    },
  };
}

/** Fails when something already listens on the port: the test would talk to a stranger. */
export async function assertPortFree(port, host = "127.0.0.1") {
  const inUse = await new Promise((resolve) => {
    const socket = connect({ port, host });
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
  if (inUse) throw new Error(`port ${host}:${port} is already in use (a server left over from an earlier run?)`);
}

/** Polls `url` until it answers `okStatus`; fails early if the process dies. */
export async function waitForHttp(url, process, { okStatus = 200, timeoutMs = 60_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  while (Date.now() < deadline) {
    if (process.child.exitCode !== null) {
      await process.exited; // its log is complete
      throw new Error(`${process.name} exited with ${process.child.exitCode}:\n${await tail(process.logFile)}`);
    }
    try {
      const response = await fetch(url, { redirect: "manual" });
      if (response.status === okStatus) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = String(error.cause?.code ?? error.message);
    }
    await sleep(200);
  }
  throw new Error(`${process.name}: ${url} not ready after ${timeoutMs} ms (${last}):\n${await tail(process.logFile)}`);
}

export async function tail(file, lines = 40) {
  try {
    return (await readFile(file, "utf8")).split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** The origin the browser must use. Next.js rewrites 127.x.x.x to "localhost" in every request URL
 * it builds (NextURL), so Auth.js builds its URLs on localhost whatever AUTH_URL says, and the
 * browser's cookies must belong to the same origin. The server still binds 127.0.0.1. */
export const APP_ORIGIN = "http://localhost:3100";

/**
 * authbridge on 127.0.0.1:`port` with one API key, then `next start` of the existing build pointed
 * at it, both ready; their output goes to `logDir`. `authbridgeEnv` and `appEnv` add to (or
 * override) the environment of each. Returns both processes and the URL and key the app was given.
 */
export async function startStack({
  port,
  databaseUrl,
  cwd,
  logDir,
  oidcIssuer,
  magicLinkFile,
  authbridgeEnv = {},
  appEnv = {},
}) {
  const bin = process.env.AUTHBRIDGE_BIN ?? path.join(repositoryDir, "target/release/authbridge");
  if (!existsSync(bin)) throw new Error(`no authbridge binary at ${bin} (cargo build --release, or AUTHBRIDGE_BIN)`);
  const apiKey = `abk_${randomBytes(24).toString("hex")}`;
  const authbridgeUrl = `http://127.0.0.1:${port}`;
  await assertPortFree(port);
  await assertPortFree(3100);
  const base = { PATH: process.env.PATH, HOME: process.env.HOME ?? cwd };
  const authbridge = startProcess("authbridge", bin, ["serve", "--bind", `127.0.0.1:${port}`], {
    cwd,
    env: { ...base, DATABASE_URL: databaseUrl, AUTHBRIDGE_API_KEYS: apiKey, RUST_LOG: "info", ...authbridgeEnv },
    logFile: path.join(logDir, "authbridge.log"),
  });
  let app;
  try {
    await waitForHttp(`${authbridgeUrl}/readyz`, authbridge);
    const nextBin = path.join(exampleDir, "node_modules/next/dist/bin/next");
    app = startProcess("next start", process.execPath, [nextBin, "start", "-p", "3100", "-H", "127.0.0.1"], {
      cwd: exampleDir,
      env: {
        ...base,
        NODE_ENV: "production",
        NEXT_TELEMETRY_DISABLED: "1",
        AUTH_SECRET: randomBytes(32).toString("base64"),
        AUTH_URL: APP_ORIGIN,
        AUTHBRIDGE_URL: authbridgeUrl,
        AUTHBRIDGE_API_KEY: apiKey,
        OIDC_ISSUER: oidcIssuer,
        OIDC_CLIENT_ID: "authbridge-example",
        OIDC_CLIENT_SECRET: "mock-secret",
        MAGIC_LINK_FILE: magicLinkFile,
        ...appEnv,
      },
      logFile: path.join(logDir, "next.log"),
    });
    await waitForHttp("http://127.0.0.1:3100/", app);
  } catch (error) {
    // Nothing is left running for the caller to find.
    await Promise.all([app?.stop(), authbridge.stop()]);
    throw error;
  }
  return { authbridge, app, authbridgeUrl, apiKey };
}

/** psql with ON_ERROR_STOP against the maintenance database of TEST_POSTGRES_URL. */
export function psql(url, sql) {
  const result = spawnSync("psql", [url, "-v", "ON_ERROR_STOP=1", "-qtAc", sql], { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`psql failed: ${result.stderr || result.error}`);
  return result.stdout.trim();
}

/** The same URL with another database name. */
export function withDatabase(url, database) {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** Debian's chromium, as both examples launch it (examples/shared/browser.mjs). */
export async function launchBrowser() {
  return launchChromium(chromium);
}
