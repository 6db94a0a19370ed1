// The Prisma 6.19 CLI (tests/prisma/prisma6, run through bin/prisma6): it creates and changes
// schemas offline. Prisma 7's migrate/db commands silently do nothing here, so they are never used.
import { execFile } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { here, root } from "./env.ts";
import type { Provider } from "./db.ts";

const run = promisify(execFile);

/** The project's Prisma schema for a provider. */
export function projectSchema(provider: Provider): string {
  const file = { pg: "schema.prisma", sqlite: "schema.sqlite.prisma", mysql: "schema.mysql.prisma" }[provider];
  return path.join(root, "prisma", file);
}

/** `prisma6 pg|sqlite <args>` with DATABASE_URL, in `cwd` (default: the repository root). */
export async function prisma6(provider: Exclude<Provider, "mysql">, databaseUrl: string, args: string[], cwd = root): Promise<string> {
  try {
    const { stdout } = await run(path.join(here, "bin/prisma6"), [provider, ...args], {
      cwd,
      env: { ...process.env, DATABASE_URL: databaseUrl },
      maxBuffer: 16 << 20,
    });
    return stdout;
  } catch (e: any) {
    throw new Error(`prisma ${provider} ${args.join(" ")} failed:\n${e.stdout ?? ""}\n${e.stderr ?? e}`);
  }
}

/**
 * What `prisma migrate deploy` leaves (the tables and _prisma_migrations) for a schema: a
 * one-migration history holding Prisma's from-empty SQL, as a team starting with Prisma has.
 */
export async function deploy(provider: Exclude<Provider, "mysql">, databaseUrl: string, schemaText?: string, cwd = root): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "ab_prisma_history_"));
  try {
    const schema = path.join(dir, "schema.prisma");
    writeFileSync(schema, schemaText ?? readFileSync(projectSchema(provider), "utf8"));
    mkdirSync(path.join(dir, "migrations/0_init"), { recursive: true });
    const sql = await prisma6(provider, databaseUrl, ["migrate", "diff", "--from-empty", "--to-schema-datamodel", schema, "--script"], cwd);
    writeFileSync(path.join(dir, "migrations/0_init/migration.sql"), sql);
    writeFileSync(path.join(dir, "migrations/migration_lock.toml"), `provider = "${provider === "pg" ? "postgresql" : "sqlite"}"\n`);
    await prisma6(provider, databaseUrl, ["migrate", "deploy", "--schema", schema], cwd);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `prisma db push` of a changed schema (a team's own change to a Prisma-managed database). */
export async function push(provider: Exclude<Provider, "mysql">, databaseUrl: string, schemaText: string): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "ab_prisma_push_"));
  try {
    const schema = path.join(dir, "schema.prisma");
    writeFileSync(schema, schemaText);
    await prisma6(provider, databaseUrl, ["db", "push", "--skip-generate", "--accept-data-loss", "--schema", schema]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
