// The real authbridge release binary: started on a free port, called over HTTP, stopped.
import { spawn, execFile } from "node:child_process";
import net from "node:net";
import { after } from "node:test";
import { promisify } from "node:util";
import { authbridgeBin } from "./env.ts";

// A failed assertion must not leave a server running (it would also keep the test file alive).
const running = new Set<ReturnType<typeof spawn>>();
after(() => {
  for (const child of running) child.kill("SIGKILL");
});

const run = promisify(execFile);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** The binary's environment: ours only, never the caller's DATABASE_URL or keys. */
function envFor(vars: Record<string, string>): NodeJS.ProcessEnv {
  // NO_COLOR: the log is matched as plain text.
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, RUST_LOG: "info", NO_COLOR: "1" };
  return { ...env, ...vars };
}

export interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `authbridge <args>` to completion (check-schema, migrate, a start-up that must fail). */
export async function runAuthbridge(args: string[], vars: Record<string, string>, cwd?: string): Promise<Outcome> {
  try {
    const { stdout, stderr } = await run(authbridgeBin(), args, { env: envFor(vars), cwd, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (e: any) {
    if (typeof e.code !== "number") throw e;
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

export class Authbridge {
  private constructor(
    private readonly child: ReturnType<typeof spawn>,
    readonly base: string,
    private readonly output: { text: string },
  ) {}

  /** Everything the process wrote to stderr so far (its log). */
  get log(): string {
    return this.output.text;
  }

  /** Starts `authbridge serve` and waits until /readyz answers 200. */
  static async start(vars: Record<string, string>, cwd?: string): Promise<Authbridge> {
    const port = await freePort();
    const child = spawn(authbridgeBin(), [], {
      env: envFor({ ...vars, AUTHBRIDGE_BIND: `127.0.0.1:${port}` }),
      cwd,
      stdio: ["ignore", "ignore", "pipe"],
    });
    running.add(child);
    child.on("exit", () => running.delete(child));
    const output = { text: "" };
    child.stderr!.on("data", (chunk) => (output.text += chunk));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    const base = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 300; i++) {
      const done = await Promise.race([exited, new Promise((r) => setTimeout(() => r("waiting"), 50))]);
      if (done !== "waiting") throw new Error(`authbridge exited with ${done} before it was ready:\n${output.text}`);
      const ready = await fetch(`${base}/readyz`).then((r) => r.status, () => 0);
      if (ready === 200) return new Authbridge(child, base, output);
    }
    child.kill("SIGKILL");
    throw new Error(`authbridge was not ready within 15 s:\n${output.text}`);
  }

  /** Calls an adapter method; returns the parsed 200 body, throws on any other status. */
  async call(method: string, body: unknown): Promise<any> {
    const response = await fetch(`${this.base}/v1/adapter/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    if (response.status !== 200) throw new Error(`${method}: ${response.status} ${text}`);
    return JSON.parse(text);
  }

  /** `GET path` of a management route; returns the parsed 200 body, throws on any other status. */
  async get(path: string): Promise<any> {
    const response = await fetch(`${this.base}${path}`);
    const text = await response.text();
    if (response.status !== 200) throw new Error(`GET ${path}: ${response.status} ${text}`);
    return JSON.parse(text);
  }

  /** SIGTERM, and wait for the exit (graceful shutdown). */
  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    const exited = new Promise<number | null>((resolve) => this.child.on("exit", (code) => resolve(code)));
    this.child.kill("SIGTERM");
    return exited;
  }
}
