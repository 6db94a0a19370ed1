import { fileURLToPath } from "node:url";
import type { NextConfig } from "next";

// authbridge-adapter is a local dependency (`file:../../adapter`), which npm installs as a symlink
// into the repository's adapter/ folder. Both bundlers and the output tracing must be allowed to
// follow it out of this folder, so the workspace root is the repository.
const repositoryRoot = fileURLToPath(new URL("../..", import.meta.url));

const nextConfig: NextConfig = {
  turbopack: { root: repositoryRoot },
  outputFileTracingRoot: repositoryRoot,
};

export default nextConfig;
