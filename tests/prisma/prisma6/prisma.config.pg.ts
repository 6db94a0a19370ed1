// Prisma 6.19 CLI config for PostgreSQL (`bin/prisma6 pg ...` passes it with --config).
// engine "js" + a driver adapter make the CLI use its bundled WASM schema engine instead of the
// native schema-engine binary, which would have to be downloaded. See
// ../../shared/prisma-reference/OFFLINE-PRISMA.md for the background.
import { defineConfig } from "prisma/config";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";

// prisma/orm#27403: the WASM engine's introspection returns PostgreSQL `name` / "char" columns,
// which @prisma/adapter-pg 6.19 cannot deserialize. Re-label them as text.
const addFields = (pg as any).Result.prototype.addFields;
(pg as any).Result.prototype.addFields = function (fields: any[]) {
  for (const f of fields) if (f.dataTypeID === 19 || f.dataTypeID === 18) f.dataTypeID = 25;
  return addFields.call(this, fields);
};

// The native engine reads `?schema=` from the URL; through a driver adapter the schema is an
// adapter option (used for introspection), and the generated DDL is unqualified, so the session's
// search_path must point there too. Together they make `?schema=` work as Prisma users expect.
const url = process.env.DATABASE_URL ?? "";
const schema = URL.canParse(url) ? new URL(url).searchParams.get("schema") ?? undefined : undefined;

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: process.env.PRISMA_SCHEMA ?? "prisma/schema.prisma",
  async adapter() {
    // allowExitOnIdle: without it the pg pool's idle timeout keeps every command alive ~10 s longer.
    const options = schema ? `-c search_path="${schema.replace(/"/g, '""')}"` : undefined;
    return new PrismaPg({ connectionString: url, allowExitOnIdle: true, options }, schema ? { schema } : undefined);
  },
});
