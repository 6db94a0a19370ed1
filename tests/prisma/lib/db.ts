// Scratch databases: one per test, removed afterwards.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import Database from "better-sqlite3";
import mariadb from "mariadb";
import { mysqlAdminUrl, postgresAdminUrl } from "./env.ts";

export type Provider = "pg" | "sqlite" | "mysql";

export interface Scratch {
  provider: Provider;
  /** DATABASE_URL as a Prisma user writes it (file:/abs/path.db on SQLite, mysql://... on MySQL). */
  url: string;
  /** SQLite only: the file. */
  file?: string;
  /** SQLite only: the folder holding it. */
  dir?: string;
  drop(): Promise<void>;
}

let counter = 0;

/** A connection to a MySQL/MariaDB URL; several statements per query allowed, as a migration needs. */
async function mysqlConnection(url: string): Promise<mariadb.Connection> {
  const u = new URL(url);
  return mariadb.createConnection({
    host: u.hostname,
    port: Number(u.port || 3306),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: u.pathname.slice(1) || undefined,
    multipleStatements: true,
    // Stored values are compared as the server prints them, never through JS Dates.
    dateStrings: true,
    timezone: "+00:00",
  });
}

async function onMysql<T>(url: string, run: (conn: mariadb.Connection) => Promise<T>): Promise<T> {
  const conn = await mysqlConnection(url.replace(/\?.*$/, ""));
  try {
    return await run(conn);
  } finally {
    await conn.end();
  }
}

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
  const name = `ab_prisma_${process.pid}_${counter++}_${Date.now().toString(36)}`;
  if (provider === "mysql") {
    const adminUrl = mysqlAdminUrl();
    if (!adminUrl) throw new Error("no TEST_MYSQL_URL");
    // Prisma's MySQL tables are utf8mb4; the database default matters only for tables made without one.
    await onMysql(adminUrl, (c) => c.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`));
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    return { provider, url: url.toString(), drop: () => onMysql(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS \`${name}\``)) };
  }
  const adminUrl = postgresAdminUrl();
  if (!adminUrl) throw new Error("no TEST_POSTGRES_URL");
  await admin(`CREATE DATABASE "${name}"`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    provider,
    url: url.toString(),
    drop: () => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
  };
}

/** Raw rows, for looking at what is stored (PostgreSQL: values as text; MySQL: dates as text). */
export async function rawRows(db: Scratch, sql: string, params: unknown[] = [], schema?: string): Promise<any[]> {
  if (db.provider === "mysql") return onMysql(db.url, async (c) => [...(await c.query(sql, params))]);
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
  if (db.provider === "mysql") {
    await onMysql(db.url, (c) => c.query(sql));
    return;
  }
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
      : db.provider === "mysql"
        ? await rawRows(db, "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY 1")
        : await rawRows(db, "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1", [
            schema,
          ]);
  return rows.map((r) => r.name);
}
