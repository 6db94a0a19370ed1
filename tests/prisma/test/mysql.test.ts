// MySQL/MariaDB specifics of sharing a database with Prisma (the two-way round trip itself is a
// target of cotenancy.test.ts): a database authbridge created is one Prisma Client 7 uses as its
// own, a Prisma-migrated one is verified and never migrated, and DATABASE_URL is the app's line.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Authbridge } from "../lib/authbridge.ts";
import { prismaApp } from "../lib/client.ts";
import { scratch, tableNames } from "../lib/db.ts";
import { skipMysql } from "../lib/env.ts";
import { deployMysql } from "../lib/mysql-deploy.ts";
import { verifiedNeverMigrated } from "../lib/ownership.ts";
import { authbridgeReads, prismaReads, sameBytes, writeWithAuthbridge, writeWithPrisma } from "../lib/rows.ts";

const skip = skipMysql();

test("MySQL: tables authbridge created on an empty database are tables Prisma Client 7 uses", { skip }, async () => {
  const db = await scratch("mysql");
  try {
    const ab = await Authbridge.start({ DATABASE_URL: db.url });
    const app = await prismaApp("mysql", db.url);
    try {
      assert.match(ab.log, /prisma_managed=false/);
      const byAuthbridge = await writeWithAuthbridge(ab, "a");
      const byPrisma = await writeWithPrisma(app.auth, "p");
      await prismaReads(app.auth, byAuthbridge);
      await authbridgeReads(ab, byPrisma);
      await sameBytes(db, byPrisma, byAuthbridge);
    } finally {
      await app.close();
      assert.equal(await ab.stop(), 0);
    }
    assert.ok(!(await tableNames(db)).includes("_prisma_migrations"), "authbridge does not pretend to be Prisma");
  } finally {
    await db.drop();
  }
});

test("MySQL: a Prisma-migrated database is verified, never migrated", { skip }, async (t) => {
  const db = await scratch("mysql");
  try {
    await verifiedNeverMigrated(t, db, await deployMysql(db));
  } finally {
    await db.drop();
  }
});

test("MySQL: DATABASE_URL exactly as in the app's .env (connection_limit sizes the pool)", { skip }, async () => {
  const db = await scratch("mysql");
  try {
    await deployMysql(db);
    const url = `${db.url}?connection_limit=3&connect_timeout=10`;
    const ab = await Authbridge.start({ DATABASE_URL: url });
    const app = await prismaApp("mysql", db.url);
    try {
      assert.match(ab.log, /pool_size=3/, "connection_limit sizes the pool");
      const byPrisma = await writeWithPrisma(app.auth, "p");
      await authbridgeReads(ab, byPrisma);
    } finally {
      await app.close();
      assert.equal(await ab.stop(), 0);
    }
  } finally {
    await db.drop();
  }
});
