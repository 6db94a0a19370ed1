// A database Prisma migrates is Prisma's: authbridge never migrates it, verifies it at start-up
// and in `authbridge check-schema`, accepts a team's own nullable or defaulted columns, and
// refuses, with a readable diff and exit 1, what it could not read or insert into.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Authbridge, runAuthbridge } from "../lib/authbridge.ts";
import { rawExec, rawRows, scratch, tableNames, type Provider } from "../lib/db.ts";
import { skipPostgres } from "../lib/env.ts";
import { verifiedNeverMigrated } from "../lib/ownership.ts";
import { deploy, push } from "../lib/prisma6.ts";
import { addFields, editedSchema, removeField, removeModel, retype } from "../lib/schema-edit.ts";

const TEAM_COLUMNS = addFields("User", "role String?", 'plan String @default("free")');

for (const provider of ["pg", "sqlite"] as Provider[]) {
  const name = provider === "pg" ? "PostgreSQL" : "SQLite";
  test(`${name}: a Prisma-managed database is verified, never migrated`, { skip: provider === "pg" && skipPostgres() }, async (t) => {
    const db = await scratch(provider);
    const env = { DATABASE_URL: db.url };
    try {
      await deploy(provider, db.url);
      await verifiedNeverMigrated(t, db, ["0_init"]);

      await t.test("a team's nullable or defaulted columns (role, plan) are accepted", async () => {
        await push(provider, db.url, editedSchema(provider, [TEAM_COLUMNS]));
        const check = await runAuthbridge(["check-schema"], env);
        assert.equal(check.code, 0, check.stderr);
        const ab = await Authbridge.start(env);
        try {
          const user = await ab.call("createUser", { user: { email: "team@example.com" } });
          const placeholder = provider === "pg" ? "$1" : "?";
          const [row] = await rawRows(db, `SELECT role, plan FROM users WHERE id = ${placeholder}`, [user.id]);
          assert.deepEqual({ ...row }, { role: null, plan: "free" });
        } finally {
          assert.equal(await ab.stop(), 0);
        }
      });

      await t.test("a missing table or column, a wrong type or an unfillable column: readable diff, exit 1", async () => {
        // Prisma cannot add a required column to a table with rows; a new team project has none.
        await rawExec(db, "DELETE FROM users");
        await push(
          provider,
          db.url,
          editedSchema(provider, [
            TEAM_COLUMNS,
            addFields("User", "updatedAt DateTime @updatedAt"),
            removeField("session_state", "String?"),
            retype("VerificationToken", "expires", "DateTime", "String"),
            removeField("authenticators", "Authenticator[]"),
            removeModel("Authenticator"),
          ]),
        );
        const expected = [
          "missing table `authenticators`",
          "missing column `accounts`.`session_state`",
          "column `verification_tokens`.`expires` has type text, expected DateTime",
          "extra column `users`.`updatedAt` is NOT NULL without a default: authbridge cannot insert rows into `users`",
        ];
        const check = await runAuthbridge(["check-schema"], env);
        assert.equal(check.code, 1, check.stderr);
        const serve = await runAuthbridge([], { ...env, AUTHBRIDGE_BIND: "127.0.0.1:0" });
        assert.equal(serve.code, 1, serve.stderr);
        for (const [what, outcome] of [["check-schema", check], ["serve", serve]] as const) {
          // serve prints the diff to stderr and logs it too, hence the set.
          const problems = new Set(outcome.stderr.split("\n").filter((l) => l.startsWith("  - ")).map((l) => l.slice(4).toLowerCase()));
          for (const line of expected) {
            const found = [...problems].some((p) => p.startsWith(line.toLowerCase()));
            assert.ok(found, `${what} lacks ${JSON.stringify(line)}:\n${outcome.stderr}`);
          }
          assert.equal(problems.size, expected.length, `${what}: exactly the four problems:\n${outcome.stderr}`);
        }
        assert.ok(!(await tableNames(db)).includes("__diesel_schema_migrations"));
        assert.ok(!(await tableNames(db)).includes("authenticators"), "a missing table is not created either");
      });
    } finally {
      await db.drop();
    }
  });
}
