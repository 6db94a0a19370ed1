import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

// authbridge-adapter is a local dependency (file:../../adapter, a symlink): let the bundler and
// the output tracing see the repository root, where it lives.
const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** @type {import("next").NextConfig} */
export default {
  turbopack: { root },
  outputFileTracingRoot: root,
};
