// Scratch databases: one per test, removed afterwards.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import Database from "better-sqlite3";
import { postgresAdminUrl } from "./env.ts";

export type Provider = "pg" | "sqlite";

export interface Scratch {
  provider: Provider;
  /** DATABASE_URL as a Prisma user writes it (file:/abs/path.db on SQLite). */
  url: string;
  /** SQLite only: the file. */
  file?: string;
  /** SQLite only: the folder holding it. */
  dir?: string;
  drop(): Promise<void>;
}

let counter = 0;

/** Runs SQL on the admin database. */
async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: postgresAdminUrl() });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export async function scratch(provider: Provider): Promise<Scratch> {
  if (provider === "sqlite") {
    const dir = mkdtempSync(path.join(os.tmpdir(), "ab_prisma_"));
    const file = path.join(dir, "dev.db");
    return { provider, url: `file:${file}`, file, dir, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const adminUrl = postgresAdminUrl();
  if (!adminUrl) throw new Error("no TEST_POSTGRES_URL");
  const name = `ab_prisma_${process.pid}_${counter++}_${Date.now().toString(36)}`;
  await admin(`CREATE DATABASE "${name}"`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    provider,
    url: url.toString(),
    drop: () => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
  };
}

/** Raw rows, for looking at what is stored (PostgreSQL: values as text). */
export async function rawRows(db: Scratch, sql: string, params: unknown[] = [], schema?: string): Promise<any[]> {
  if (db.provider === "sqlite") {
    const conn = new Database(db.file!, { readonly: true, fileMustExist: true });
    try {
      return conn.prepare(sql).all(...params);
    } finally {
      conn.close();
    }
  }
  const client = new pg.Client({ connectionString: db.url.replace(/\?.*$/, "") });
  await client.connect();
  try {
    if (schema) await client.query(`SET search_path TO "${schema}"`);
    return (await client.query(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** Runs statements as a team's own migration or the native engine would. */
export async function rawExec(db: Scratch, sql: string, schema?: string): Promise<void> {
  if (db.provider === "sqlite") {
    const conn = new Database(db.file!, { fileMustExist: true });
    try {
      conn.exec(sql);
    } finally {
      conn.close();
    }
    return;
  }
  const client = new pg.Client({ connectionString: db.url.replace(/\?.*$/, "") });
  await client.connect();
  try {
    if (schema) await client.query(`SET search_path TO "${schema}"`);
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** The tables in the database (PostgreSQL: in `schema`). */
export async function tableNames(db: Scratch, schema = "public"): Promise<string[]> {
  const rows =
    db.provider === "sqlite"
      ? await rawRows(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1")
      : await rawRows(db, "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1", [
          schema,
        ]);
  return rows.map((r) => r.name);
}
