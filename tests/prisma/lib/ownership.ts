// What authbridge does with a database Prisma migrated: `authbridge migrate` refuses and changes
// nothing, `check-schema` accepts it, and `serve` starts on it without migrating.
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import { Authbridge, runAuthbridge } from "./authbridge.ts";
import { rawRows, tableNames, type Scratch } from "./db.ts";

/** Runs both checks as subtests of `t`; `applied` is the `_prisma_migrations` history Prisma left. */
export async function verifiedNeverMigrated(t: TestContext, db: Scratch, applied: string[]): Promise<void> {
  const env = { DATABASE_URL: db.url };
  const history = async () =>
    (await rawRows(db, "SELECT migration_name FROM _prisma_migrations ORDER BY migration_name")).map((r) => r.migration_name);
  assert.deepEqual(await history(), applied);

  await t.test("authbridge migrate refuses and changes nothing", async () => {
    const migrate = await runAuthbridge(["migrate"], env);
    assert.equal(migrate.code, 1, migrate.stderr);
    assert.match(migrate.stderr, /managed by Prisma \(_prisma_migrations exists\)/);
    assert.ok(!(await tableNames(db)).includes("__diesel_schema_migrations"));
  });

  await t.test("check-schema accepts Prisma's schema; serve starts without migrating", async () => {
    const check = await runAuthbridge(["check-schema"], env);
    assert.equal(check.code, 0, check.stderr);
    const ab = await Authbridge.start(env);
    assert.match(ab.log, /prisma_managed=true/);
    assert.match(ab.log, /applied_migrations=0/);
    assert.equal(await ab.stop(), 0);
    assert.ok(!(await tableNames(db)).includes("__diesel_schema_migrations"));
    assert.deepEqual(await history(), applied);
  });
}
