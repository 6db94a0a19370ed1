// Prisma Client 7 (@auth/prisma-adapter) and authbridge share one Prisma-managed database: each
// reads what the other wrote with identical values, and both store the same bytes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Authbridge } from "../lib/authbridge.ts";
import { prismaApp, type TimestampFormat } from "../lib/client.ts";
import { rawExec, rawRows, scratch, tableNames, type Provider } from "../lib/db.ts";
import { skipMysql, skipPostgres } from "../lib/env.ts";
import { deployMysql } from "../lib/mysql-deploy.ts";
import { deploy } from "../lib/prisma6.ts";
import {
  authbridgeReads,
  authjsSession,
  prismaReads,
  sameBytes,
  EXPIRES,
  wire,
  writeLikePrisma6NativeEngine,
  writeWithAuthbridge,
  writeWithPrisma,
} from "../lib/rows.ts";

interface Target {
  name: string;
  provider: Provider;
  /** PostgreSQL `?schema=`. */
  schema?: string;
  /** SQLite: how Prisma stores dates, and so what authbridge must detect and write. */
  timestampFormat?: TimestampFormat;
  /** SQLite: the first rows come from raw SQL as Prisma 6's native engine wrote them. */
  nativeEngineRows?: boolean;
}

const targets: Target[] = [
  { name: "PostgreSQL", provider: "pg" },
  { name: "PostgreSQL, tables in ?schema=auth", provider: "pg", schema: "auth" },
  { name: "MariaDB (MySQL schema), Prisma Client 7 with @prisma/adapter-mariadb", provider: "mysql" },
  { name: "SQLite, Prisma 7 default timestampFormat iso8601", provider: "sqlite", timestampFormat: "iso8601" },
  { name: "SQLite, timestampFormat unixepoch-ms", provider: "sqlite", timestampFormat: "unixepoch-ms" },
  {
    name: "SQLite, integer milliseconds as Prisma 6's native engine wrote them (raw SQL)",
    provider: "sqlite",
    timestampFormat: "unixepoch-ms",
    nativeEngineRows: true,
  },
];

for (const target of targets) {
  const skip = (target.provider === "pg" && skipPostgres()) || (target.provider === "mysql" && skipMysql());
  test(target.name, { skip }, async (t) => {
    const db = await scratch(target.provider);
    const url = target.schema ? `${db.url}?schema=${target.schema}` : db.url;
    try {
      if (target.provider === "mysql") await deployMysql(db);
      else await deploy(target.provider, url);
      const app = await prismaApp(target.provider, db.url, { timestampFormat: target.timestampFormat, schema: target.schema });
      const ab = { current: undefined as Authbridge | undefined };
      try {
        const first = target.nativeEngineRows
          ? await writeLikePrisma6NativeEngine(db, "p")
          : await writeWithPrisma(app.auth, "p");
        // Started after the first rows exist, with the format left on auto: it must find it.
        ab.current = await Authbridge.start({ DATABASE_URL: url });
        if (target.timestampFormat) {
          assert.match(ab.current.log, new RegExp(`sqlite_datetime_format="?${target.timestampFormat}`), ab.current.log);
        }
        assert.match(ab.current.log, /prisma_managed=true/);

        await t.test("authbridge reads the rows Prisma wrote", () => authbridgeReads(ab.current!, first));
        const second = await writeWithAuthbridge(ab.current, "a");
        await t.test("both store the same bytes", () => sameBytes(db, first, second, target.schema));
        await t.test("Prisma Client reads the rows authbridge wrote", () => prismaReads(app.auth, second));

        await t.test("a magic link is used once, whoever uses it", async () => {
          assert.deepEqual(
            await ab.current!.call("useVerificationToken", { identifier: first.verificationToken.identifier, token: first.verificationToken.token }),
            first.verificationToken,
          );
          assert.equal(await app.auth.useVerificationToken!({ identifier: first.verificationToken.identifier, token: first.verificationToken.token }), null);
          const used = await app.auth.useVerificationToken!({ identifier: second.verificationToken.identifier, token: second.verificationToken.token });
          assert.deepEqual(wire(used), second.verificationToken);
          assert.equal(await ab.current!.call("useVerificationToken", { identifier: second.verificationToken.identifier, token: second.verificationToken.token }), null);
        });

        await t.test("an expiry authbridge slides is what Prisma reads", async () => {
          const slid = await ab.current!.call("getSessionAndUser", { sessionToken: first.session.sessionToken, maxAge: 3650 * 86400, updateAge: 0 });
          assert.notEqual(slid.session.expires, first.session.expires);
          const seen = await app.auth.getSessionAndUser(first.session.sessionToken);
          assert.equal(seen!.session.expires.toISOString(), slid.session.expires);
          if (target.provider === "sqlite") {
            const kinds = await rawRows(db, "SELECT DISTINCT typeof(expires) AS kind FROM sessions");
            assert.deepEqual(kinds.map((k) => k.kind), [target.timestampFormat === "iso8601" ? "text" : "integer"], "one format only");
          }
        });

        await t.test("session metadata: Prisma Client reads what authbridge wrote, and the other way round", async () => {
          const context = { ipAddress: "198.51.100.4", userAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0" };
          const created = await ab.current!.call("createSession", {
            session: { userId: second.user.id, expires: EXPIRES, sessionToken: "with-context" },
            context,
          });
          const row = await app.prisma.session.findUnique({ where: { id: created.id } });
          assert.equal(row.ipAddress, context.ipAddress);
          assert.equal(row.userAgent, context.userAgent);
          assert.ok(row.createdAt instanceof Date && row.updatedAt instanceof Date, "Prisma reads real Dates");
          const [listed] = (await ab.current!.get(`/v1/users/${second.user.id}/sessions?active=false`)).filter((s: any) => s.id === created.id);
          assert.deepEqual(
            [listed.createdAt, listed.updatedAt, listed.ipAddress, listed.userAgent],
            [row.createdAt.toISOString(), row.updatedAt.toISOString(), context.ipAddress, context.userAgent],
          );

          // A row another program inserted without the column: the database default fills createdAt.
          const q = target.provider === "mysql" ? (c: string) => `\`${c}\`` : (c: string) => `"${c}"`;
          await rawExec(
            db,
            `INSERT INTO sessions (id, ${q("sessionToken")}, ${q("userId")}, expires) SELECT 'raw-metadata', 'raw-metadata-token', ${q("userId")}, expires FROM sessions WHERE id = '${first.session.id}'`,
            target.schema,
          );
          const viaPrisma = authjsSession(await app.auth.createSession({ sessionToken: "prisma-metadata", userId: first.user.id, expires: new Date(EXPIRES) }));
          const rows = await ab.current!.get(`/v1/users/${first.user.id}/sessions?active=false`);
          for (const id of ["raw-metadata", viaPrisma.id]) {
            const seen = rows.find((s: any) => s.id === id);
            const stored = await app.prisma.session.findUnique({ where: { id } });
            assert.ok(stored.createdAt instanceof Date, `${id}: createdAt is filled`);
            assert.equal(seen.createdAt, stored.createdAt.toISOString(), `${id}: authbridge lists the createdAt Prisma reads`);
            assert.deepEqual([seen.updatedAt, seen.ipAddress, seen.userAgent], [null, null, null], id);
          }
        });

        await t.test("Prisma owns the schema: authbridge created nothing", async () => {
          const tables = await tableNames(db, target.schema ?? "public");
          assert.ok(tables.includes("_prisma_migrations") && tables.includes("users"), tables.join(", "));
          assert.ok(!tables.includes("__diesel_schema_migrations"), tables.join(", "));
          if (target.schema) assert.deepEqual(await tableNames(db, "public"), [], "nothing in public");
        });
      } finally {
        if (ab.current) assert.equal(await ab.current.stop(), 0, "clean shutdown");
        await app.close();
      }
    } finally {
      await db.drop();
    }
  });
}

test("SQLite: on an empty Prisma database authbridge writes the configured format (auto: iso8601)", async (t) => {
  for (const [configured, kind, format] of [
    ["unixepoch-ms", "integer", "unixepoch-ms"],
    ["auto", "text", "iso8601"],
  ] as const) {
    await t.test(`AUTHBRIDGE_SQLITE_DATETIME_FORMAT=${configured}`, async () => {
      const db = await scratch("sqlite");
      try {
        await deploy("sqlite", db.url);
        const ab = await Authbridge.start({ DATABASE_URL: db.url, AUTHBRIDGE_SQLITE_DATETIME_FORMAT: configured });
        const app = await prismaApp("sqlite", db.url, { timestampFormat: format });
        try {
          const written = await writeWithAuthbridge(ab, "a");
          const kinds = await rawRows(db, `SELECT DISTINCT typeof(expires) AS kind FROM sessions UNION SELECT typeof("emailVerified") FROM users WHERE "emailVerified" IS NOT NULL`);
          assert.deepEqual(kinds.map((k) => k.kind), [kind]);
          await prismaReads(app.auth, written);
          const prismaWritten = await writeWithPrisma(app.auth, "p");
          await sameBytes(db, prismaWritten, written);
          await authbridgeReads(ab, prismaWritten);
        } finally {
          await app.close();
          assert.equal(await ab.stop(), 0);
        }
      } finally {
        await db.drop();
      }
    });
  }
});
