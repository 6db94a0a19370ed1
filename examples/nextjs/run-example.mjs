// Runs the example by hand: authbridge (SQLite in ./.example/, or DATABASE_URL), the mock OpenID
// Connect provider and `next start`, with fresh secrets. Needs `npm run build` (and the release
// binary) first. Ctrl-C stops all three.
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { startMockOidc, MOCK_USER } from "./test/mock-oidc.mjs";
import { APP_ORIGIN, exampleDir, startStack } from "./test/harness.mjs";

const state = path.join(exampleDir, ".example");
await mkdir(state, { recursive: true });
const oidc = await startMockOidc({ port: 18310 });
const { authbridge, app } = await startStack({
  port: 18301,
  databaseUrl: process.env.DATABASE_URL ?? `file:${path.join(state, "authbridge.db")}`,
  cwd: state,
  logDir: state,
  oidcIssuer: oidc.issuer.url,
  magicLinkFile: path.join(state, "magic-links.jsonl"),
});
console.log(`Open ${APP_ORIGIN} — the mock provider signs you in as ${MOCK_USER.email}.
Magic links: .example/magic-links.jsonl. Logs: .example/authbridge.log, .example/next.log. Ctrl-C stops.`);

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, async () => {
    await Promise.all([app.stop(), authbridge.stop(), oidc.stop()]);
    process.exit(0);
  });
}
