// postinstall: authbridge-adapter is linked from ../../adapter, whose dist/ is not committed. Build
// it when it is missing or older than its sources, so `npm ci` here is enough on a clean clone.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const adapter = resolve(dirname(fileURLToPath(import.meta.url)), "../../../adapter");
const built = join(adapter, "dist/index.js");
const src = join(adapter, "src");
const stale =
  !existsSync(built) || readdirSync(src).some((file) => statSync(join(src, file)).mtimeMs > statSync(built).mtimeMs);

function npm(...args) {
  const result = spawnSync("npm", args, { cwd: adapter, stdio: "inherit" });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

if (stale) {
  console.log("building authbridge-adapter (../../adapter)");
  if (!existsSync(join(adapter, "node_modules/.bin/tsc"))) npm("ci", "--no-audit", "--no-fund");
  npm("run", "build");
}
