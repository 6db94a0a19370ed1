// DATABASE_URL exactly as Prisma users write it in .env works for authbridge unchanged: Prisma
// (CLI and Client) and authbridge, given the same line, use the same database.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { Authbridge, runAuthbridge } from "../lib/authbridge.ts";
import { prismaApp } from "../lib/client.ts";
import { scratch, tableNames } from "../lib/db.ts";
import { skipPostgres } from "../lib/env.ts";
import { deploy } from "../lib/prisma6.ts";
import { wire } from "../lib/rows.ts";

/** A user written by Prisma is read by authbridge, and the other way round. */
async function bothWays(ab: Authbridge, auth: any, tag: string): Promise<void> {
  const byPrisma = wire(await auth.createUser({ id: "x", email: `prisma-${tag}@example.com`, emailVerified: new Date("2026-01-02T03:04:05.678Z") }));
  assert.deepEqual(await ab.call("getUserByEmail", { email: byPrisma.email }), byPrisma);
  const byAuthbridge = await ab.call("createUser", { user: { email: `authbridge-${tag}@example.com`, emailVerified: "2026-01-02T03:04:05.678Z" } });
  assert.deepEqual(wire(await auth.getUser(byAuthbridge.id)), byAuthbridge);
}

test(
  "postgresql://…?schema=auth&connection_limit=3&sslmode=disable&pgbouncer=true",
  { skip: skipPostgres() },
  async () => {
    const db = await scratch("pg");
    const url = `${db.url}?schema=auth&connection_limit=3&sslmode=disable&pgbouncer=true`;
    try {
      await deploy("pg", url);
      assert.deepEqual(await tableNames(db, "public"), [], "Prisma put the tables in schema auth");
      const ab = await Authbridge.start({ DATABASE_URL: url });
      const app = await prismaApp("pg", db.url, { schema: "auth" });
      try {
        assert.match(ab.log, /pool_size=3/, "connection_limit sizes the pool");
        // pgbouncer=true on a direct connection: every unit of work in one transaction that sets
        // search_path itself (src/db/pg.rs), which Prisma's tables in schema auth prove.
        assert.match(ab.log, /prisma_managed=true/);
        await bothWays(ab, app.auth, "pg");
      } finally {
        await app.close();
        assert.equal(await ab.stop(), 0);
      }
      assert.deepEqual(await tableNames(db, "public"), [], "authbridge created nothing in public");

      const explicit = await Authbridge.start({ DATABASE_URL: url, AUTHBRIDGE_POOL_SIZE: "5" });
      assert.match(explicit.log, /pool_size=5/, "an explicit pool size wins over connection_limit");
      assert.equal(await explicit.stop(), 0);
    } finally {
      await db.drop();
    }
  },
);

test("postgresql://…?sslmode=verify-full without a CA is a clear start-up error, not a late connection failure", { skip: skipPostgres() }, async () => {
  const db = await scratch("pg");
  try {
    const withPassword = new URL(db.url);
    withPassword.password = "never-printed";
    withPassword.search = "?sslmode=verify-full";
    const outcome = await runAuthbridge(["check-schema"], { DATABASE_URL: withPassword.toString() });
    assert.equal(outcome.code, 2, outcome.stderr);
    assert.match(outcome.stderr, /verify-full need sslrootcert/);
    assert.doesNotMatch(outcome.stderr, /never-printed/);
  } finally {
    await db.drop();
  }
});

test("SQLite file:./dev.db, relative to the working directory of each process", async (t) => {
  const project = mkdtempSync(path.join(os.tmpdir(), "ab_prisma_project_"));
  // Prisma's SQLite driver adapters take everything after `file:` as the file name, so the line a
  // team shares between Prisma 7 and authbridge has no parameters.
  const env = { DATABASE_URL: "file:./dev.db" };
  try {
    // The Prisma CLI, run from the project folder with the line from .env.
    await deploy("sqlite", env.DATABASE_URL, undefined, project);
    assert.ok(existsSync(path.join(project, "dev.db")), "Prisma created ./dev.db in the working directory");
    const ab = await Authbridge.start(env, project);
    // Prisma Client is given the file as an absolute path: the test process runs elsewhere.
    const app = await prismaApp("sqlite", `file:${path.join(project, "dev.db")}`);
    try {
      assert.match(ab.log, /prisma_managed=true/, "authbridge opened Prisma's database, not a new one");
      await bothWays(ab, app.auth, "file");
    } finally {
      await app.close();
      assert.equal(await ab.stop(), 0);
    }

    await t.test("file:./dev.db?connection_limit=1 (Prisma 6's native engine form) sizes the pool", async () => {
      const limited = await Authbridge.start({ DATABASE_URL: "file:./dev.db?connection_limit=1" }, project);
      assert.match(limited.log, /pool_size=1/);
      assert.match(limited.log, /prisma_managed=true/, "the same file, parameters aside");
      assert.equal(await limited.stop(), 0);
    });

    await t.test("a database Prisma 6's native engine put next to the schema is not silently replaced", async () => {
      mkdirSync(path.join(project, "prisma"));
      renameSync(path.join(project, "dev.db"), path.join(project, "prisma/dev.db"));
      const outcome = await runAuthbridge([], env, project);
      assert.equal(outcome.code, 2, outcome.stderr);
      assert.match(outcome.stderr, /file:\.\/prisma\/dev\.db/);
      assert.ok(!existsSync(path.join(project, "dev.db")), "no second, empty database was created");
    });

    await t.test("sqlite:///absolute/path.db and sqlite://relative.db name the same files", async () => {
      const file = path.join(project, "prisma/dev.db");
      for (const [url, cwd] of [
        [`sqlite://${file}`, undefined],
        ["sqlite://prisma/dev.db", project],
      ] as const) {
        const other = await Authbridge.start({ DATABASE_URL: url }, cwd);
        const app2 = await prismaApp("sqlite", `file:${file}`);
        try {
          assert.match(other.log, /prisma_managed=true/, url);
          await bothWays(other, app2.auth, url.startsWith("sqlite:///") ? "abs" : "rel");
        } finally {
          await app2.close();
          assert.equal(await other.stop(), 0);
        }
      }
    });
  } finally {
    rmSync(project, { recursive: true, force: true });
  }
});
