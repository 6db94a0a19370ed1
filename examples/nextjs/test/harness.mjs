// Starts and stops the real processes the browser test needs: authbridge (release binary), the
// Next.js production server (`next start` of the existing `next build`) and the browser.
import { spawn, spawnSync } from "node:child_process";
import { createWriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const exampleDir = fileURLToPath(new URL("..", import.meta.url));
export const repositoryDir = fileURLToPath(new URL("../../..", import.meta.url));

/** A child process whose output goes to a log file, so that a failure can show it. */
export function startProcess(name, command, args, { env, cwd, logFile }) {
  const log = createWriteStream(logFile);
  const child = spawn(command, args, { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
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
      log.end();
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

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
      "--disable-sync",
      "--disable-quic",
    ],
  });
}
