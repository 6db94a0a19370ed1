// Where things are, and which databases the tests may use.
import path from "node:path";
import { existsSync } from "node:fs";

/** The repository root (tests/prisma is two levels down). */
export const root = path.resolve(import.meta.dirname, "../../..");
export const here = path.resolve(import.meta.dirname, "..");

/** The release binary under test: AUTHBRIDGE_BIN, or target/release/authbridge. */
export function authbridgeBin(): string {
  const bin = path.resolve(root, process.env.AUTHBRIDGE_BIN ?? "target/release/authbridge");
  if (!existsSync(bin)) throw new Error(`${bin} does not exist: run cargo build --release (or set AUTHBRIDGE_BIN)`);
  return bin;
}

export const ci = process.env.CI === "true" || process.env.CI === "1";

/**
 * TEST_POSTGRES_URL names a database the tests may create scratch databases from. Outside CI a
 * missing URL skips the PostgreSQL cases; with CI=true it is a failure.
 */
export function postgresAdminUrl(): string | undefined {
  const url = process.env.TEST_POSTGRES_URL;
  if (url) return url;
  if (ci) throw new Error("CI=true but TEST_POSTGRES_URL is not set: the PostgreSQL cases must run");
  return undefined;
}

/** The reason to skip PostgreSQL cases, or false to run them. */
export function skipPostgres(): string | false {
  return postgresAdminUrl() ? false : "TEST_POSTGRES_URL is not set";
}

/**
 * TEST_MYSQL_URL names a MySQL/MariaDB server (and database) the tests may create scratch
 * databases on, e.g. mysql://root@127.0.0.1:3306/test. Same rules as TEST_POSTGRES_URL.
 */
export function mysqlAdminUrl(): string | undefined {
  const url = process.env.TEST_MYSQL_URL;
  if (url) return url;
  if (ci) throw new Error("CI=true but TEST_MYSQL_URL is not set: the MySQL cases must run");
  return undefined;
}

/** The reason to skip MySQL cases, or false to run them. */
export function skipMysql(): string | false {
  return mysqlAdminUrl() ? false : "TEST_MYSQL_URL is not set";
}
