// Prisma 6.19 CLI config for SQLite (`bin/prisma6 sqlite ...` passes it with --config).
// engine "js" + a driver adapter make the CLI use its bundled WASM schema engine.
// DATABASE_URL: file:./dev.db (relative to the current directory) or :memory:.
import { defineConfig } from "prisma/config";
import { PrismaBetterSQLite3 } from "@prisma/adapter-better-sqlite3";

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: process.env.PRISMA_SCHEMA ?? "prisma/schema.prisma",
  async adapter() {
    return new PrismaBetterSQLite3({ url: process.env.DATABASE_URL ?? "file:./dev.db" });
  },
});
