// Runs the example by hand: authbridge (SQLite in ./.example/, or DATABASE_URL), the mock OpenID
// Connect provider and `next start`, with fresh secrets. Needs `npm run build` (and the release
// binary) first. Ctrl-C stops all three.
import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { startMockOidc, MOCK_USER } from "./test/mock-oidc.mjs";
import { assertPortFree, exampleDir, repositoryDir, startProcess, waitForHttp } from "./test/harness.mjs";

const state = path.join(exampleDir, ".example");
await mkdir(state, { recursive: true });
const apiKey = randomBytes(24).toString("hex");
const authbridgeUrl = "http://127.0.0.1:18301";
for (const port of [18301, 18310, 3100]) await assertPortFree(port);

const oidc = await startMockOidc({ port: 18310 });
const authbridge = startProcess(
  "authbridge",
  process.env.AUTHBRIDGE_BIN ?? path.join(repositoryDir, "target/release/authbridge"),
  ["serve", "--bind", "127.0.0.1:18301"],
  {
    cwd: state,
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: process.env.DATABASE_URL ?? `file:${path.join(state, "authbridge.db")}`,
      AUTHBRIDGE_API_KEYS: apiKey,
    },
    logFile: path.join(state, "authbridge.log"),
  },
);
await waitForHttp(`${authbridgeUrl}/readyz`, authbridge);
const app = startProcess(
  "next start",
  process.execPath,
  ["node_modules/next/dist/bin/next", "start", "-p", "3100", "-H", "127.0.0.1"],
  {
    cwd: exampleDir,
    env: {
      ...process.env,
      NEXT_TELEMETRY_DISABLED: "1",
      AUTH_SECRET: randomBytes(32).toString("base64"),
      AUTH_URL: "http://localhost:3100",
      AUTHBRIDGE_URL: authbridgeUrl,
      AUTHBRIDGE_API_KEY: apiKey,
      OIDC_ISSUER: oidc.issuer.url,
      OIDC_CLIENT_ID: "authbridge-example",
      OIDC_CLIENT_SECRET: "mock-secret",
      MAGIC_LINK_FILE: path.join(state, "magic-links.jsonl"),
    },
    logFile: path.join(state, "next.log"),
  },
);
await waitForHttp("http://127.0.0.1:3100/", app);
console.log(`Open http://localhost:3100 — the mock provider signs you in as ${MOCK_USER.email}.
Magic links: .example/magic-links.jsonl. Logs: .example/authbridge.log, .example/next.log. Ctrl-C stops.`);

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, async () => {
    await Promise.all([app.stop(), authbridge.stop(), oidc.stop()]);
    process.exit(0);
  });
}
