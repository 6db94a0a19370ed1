// MySQL/MariaDB tables as `prisma migrate deploy` leaves them. No Prisma here can run a MySQL
// migration offline (its WASM schema engines have no MySQL connector), so this does the two
// things deploy does, in its order: create `_prisma_migrations` with the DDL Prisma's MySQL
// connector uses, then for each folder of migrations/mysql run its up.sql (the migration.sql a Prisma team has) and record it
// (sha256 checksum of the file, finished_at, applied_steps_count 1). The SQL itself is the
// project's reconstruction of Prisma's MySQL DDL (see the header of each up.sql and migrations/README.md).
import { createHash, randomUUID } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { rawExec, type Scratch } from "./db.ts";
import { root } from "./env.ts";

const MIGRATIONS = path.join(root, "migrations/mysql");

const PRISMA_MIGRATIONS_TABLE = `CREATE TABLE _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             DATETIME(3),
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          DATETIME(3),
    started_at              DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    applied_steps_count     INTEGER UNSIGNED NOT NULL DEFAULT 0
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;`;

/** The migration folders, oldest first (their names sort by time, as Prisma's do). */
export function mysqlMigrations(): { name: string; sql: string }[] {
  return readdirSync(MIGRATIONS, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort()
    .map((name) => ({ name, sql: readFileSync(path.join(MIGRATIONS, name, "up.sql"), "utf8") }));
}

export async function deployMysql(db: Scratch): Promise<string[]> {
  await rawExec(db, PRISMA_MIGRATIONS_TABLE);
  const applied = [];
  for (const { name, sql } of mysqlMigrations()) {
    const checksum = createHash("sha256").update(sql).digest("hex");
    await rawExec(db, sql);
    await rawExec(
      db,
      `INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, applied_steps_count)
       VALUES ('${randomUUID()}', '${checksum}', CURRENT_TIMESTAMP(3), '${name}', 1)`,
    );
    applied.push(name);
  }
  return applied;
}
