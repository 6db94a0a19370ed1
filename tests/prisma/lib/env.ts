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

/** The server URL in `variable`; outside CI a missing one skips those cases, with CI=true it fails. */
function adminUrl(variable: string, name: string): string | undefined {
  const url = process.env[variable];
  if (url) return url;
  if (ci) throw new Error(`CI=true but ${variable} is not set: the ${name} cases must run`);
  return undefined;
}

/** A PostgreSQL database the tests may create scratch databases from. */
export const postgresAdminUrl = () => adminUrl("TEST_POSTGRES_URL", "PostgreSQL");

/** A MySQL/MariaDB server (and database) for scratch databases, e.g. mysql://root@127.0.0.1:3306/test. */
export const mysqlAdminUrl = () => adminUrl("TEST_MYSQL_URL", "MySQL");

/** The reason to skip PostgreSQL cases, or false to run them. */
export function skipPostgres(): string | false {
  return postgresAdminUrl() ? false : "TEST_POSTGRES_URL is not set";
}

/** The reason to skip MySQL cases, or false to run them. */
export function skipMysql(): string | false {
  return mysqlAdminUrl() ? false : "TEST_MYSQL_URL is not set";
}
