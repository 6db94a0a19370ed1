// The same Auth.js rows, written by Prisma (@auth/prisma-adapter), by authbridge (HTTP) or by raw
// SQL, and the comparisons between them. Values are identical across writers except for the keys
// that must be unique, so that the stored bytes can be compared column by column.
import assert from "node:assert/strict";
import type { Authbridge } from "./authbridge.ts";
import { rawExec, rawRows, type Scratch } from "./db.ts";

export const VERIFIED = "2026-01-02T03:04:05.678Z";
export const EXPIRES = "2031-02-03T04:05:06.789Z";
export const TOKEN_EXPIRES = "2030-06-07T08:09:10.011Z";
export const EXPIRED = "2001-01-01T00:00:00.001Z";

/** Everything one writer created, in wire form (dates as RFC 3339 strings with ms and Z). */
export interface Written {
  user: any;
  bare: any;
  account: any;
  session: any;
  expired: any;
  verificationToken: any;
  authenticators: any[];
}

/** What JSON makes of a value: exactly authbridge's wire form (Date#toJSON has ms and Z). */
export const wire = (value: unknown) => JSON.parse(JSON.stringify(value));

const DATE_KEYS = new Set(["emailVerified", "expires"]);
/** Wire form back to what Prisma takes: the date fields as Date objects. */
export const revive = (value: any) =>
  Object.fromEntries(Object.entries(value).map(([k, v]) => [k, DATE_KEYS.has(k) && v !== null ? new Date(v as string) : v]));

function fixture(tag: string) {
  return {
    user: { name: "Ada Lovelace", email: `ada-${tag}@example.com`, emailVerified: VERIFIED, image: "https://example.com/ada.png" },
    bare: { name: null, email: null, emailVerified: null, image: null },
    account: {
      type: "oauth",
      provider: "github",
      providerAccountId: `gh-${tag}`,
      refresh_token: null,
      access_token: "gho_same-for-every-writer",
      expires_at: 1767323045,
      token_type: "bearer",
      scope: "read:user user:email",
      id_token: null,
      session_state: null,
    },
    session: { sessionToken: `session-${tag}`, expires: EXPIRES },
    expired: { sessionToken: `expired-${tag}`, expires: EXPIRED },
    verificationToken: { identifier: `ada-${tag}@example.com`, token: `magic-${tag}`, expires: TOKEN_EXPIRES },
    authenticators: [
      {
        credentialID: `cred-${tag}-1`,
        providerAccountId: `gh-${tag}`,
        credentialPublicKey: "pQECAyYgASFYIMw",
        counter: 7,
        credentialDeviceType: "multiDevice",
        credentialBackedUp: true,
        transports: "internal,hybrid",
      },
      {
        credentialID: `cred-${tag}-2`,
        providerAccountId: `gh-${tag}`,
        credentialPublicKey: "pQECAyYgASFYIMx",
        counter: 0,
        credentialDeviceType: "singleDevice",
        credentialBackedUp: false,
        transports: null,
      },
    ],
  };
}

/**
 * A session in the Auth.js shape authbridge's adapter answers. @auth/prisma-adapter hands back the
 * whole row, which includes the optional metadata columns of the project's schema.
 */
export const authjsSession = ({ id, sessionToken, userId, expires }: any) => ({ id, sessionToken, userId, expires });

/** Through Prisma Client and @auth/prisma-adapter, as a Next.js app signs users in. */
export async function writeWithPrisma(auth: any, tag: string): Promise<Written> {
  const f = fixture(tag);
  const user = await auth.createUser({ id: "ignored-by-the-adapter", ...revive(f.user) });
  const bare = await auth.createUser({ id: "ignored-too", ...f.bare });
  const account = await auth.linkAccount({ ...f.account, userId: user.id });
  const session = authjsSession(await auth.createSession({ ...revive(f.session), userId: user.id }));
  const expired = authjsSession(await auth.createSession({ ...revive(f.expired), userId: user.id }));
  const verificationToken = await auth.createVerificationToken(revive(f.verificationToken));
  const authenticators = [];
  for (const a of f.authenticators) authenticators.push(await auth.createAuthenticator({ ...a, userId: user.id }));
  return wire({ user, bare, account, session, expired, verificationToken, authenticators });
}

/** Through authbridge's HTTP API. */
export async function writeWithAuthbridge(ab: Authbridge, tag: string): Promise<Written> {
  const f = fixture(tag);
  const user = await ab.call("createUser", { user: { id: "ignored-by-the-server", ...f.user } });
  const bare = await ab.call("createUser", { user: f.bare });
  const account = await ab.call("linkAccount", { account: { ...f.account, userId: user.id } });
  const session = await ab.call("createSession", { session: { ...f.session, userId: user.id } });
  const expired = await ab.call("createSession", { session: { ...f.expired, userId: user.id } });
  const verificationToken = await ab.call("createVerificationToken", { verificationToken: f.verificationToken });
  const authenticators = [];
  for (const a of f.authenticators) authenticators.push(await ab.call("createAuthenticator", { authenticator: { ...a, userId: user.id } }));
  return { user, bare, account, session, expired, verificationToken, authenticators };
}

/**
 * Raw SQL with integer unix milliseconds and 0/1 booleans: the rows as Prisma 6's native engine
 * wrote them to SQLite (no native engine can run here, so the statements spell its storage out).
 */
export async function writeLikePrisma6NativeEngine(db: Scratch, tag: string): Promise<Written> {
  const f = fixture(tag);
  const ms = (iso: string) => Date.parse(iso);
  const q = (v: unknown) => (v === null ? "NULL" : typeof v === "number" ? String(v) : `'${String(v).replace(/'/g, "''")}'`);
  const ids = { user: `cl${tag}user0000000000000001`, bare: `cl${tag}user0000000000000002`, account: `cl${tag}acct000000000000001` };
  const sessionIds = [`cl${tag}sess000000000000001`, `cl${tag}sess000000000000002`];
  const u = f.user, a = f.account;
  await rawExec(
    db,
    `INSERT INTO users (id, name, email, "emailVerified", image) VALUES (${q(ids.user)}, ${q(u.name)}, ${q(u.email)}, ${ms(u.emailVerified)}, ${q(u.image)});
     INSERT INTO users (id, name, email, "emailVerified", image) VALUES (${q(ids.bare)}, NULL, NULL, NULL, NULL);
     INSERT INTO accounts (id, "userId", type, provider, "providerAccountId", refresh_token, access_token, expires_at, token_type, scope, id_token, session_state)
       VALUES (${q(ids.account)}, ${q(ids.user)}, ${q(a.type)}, ${q(a.provider)}, ${q(a.providerAccountId)}, NULL, ${q(a.access_token)}, ${a.expires_at}, ${q(a.token_type)}, ${q(a.scope)}, NULL, NULL);
     INSERT INTO sessions (id, "sessionToken", "userId", expires) VALUES (${q(sessionIds[0])}, ${q(f.session.sessionToken)}, ${q(ids.user)}, ${ms(f.session.expires)});
     INSERT INTO sessions (id, "sessionToken", "userId", expires) VALUES (${q(sessionIds[1])}, ${q(f.expired.sessionToken)}, ${q(ids.user)}, ${ms(f.expired.expires)});
     INSERT INTO verification_tokens (identifier, token, expires) VALUES (${q(f.verificationToken.identifier)}, ${q(f.verificationToken.token)}, ${ms(f.verificationToken.expires)});
     ${f.authenticators
       .map(
         (x) => `INSERT INTO authenticators ("credentialID", "userId", "providerAccountId", "credentialPublicKey", counter, "credentialDeviceType", "credentialBackedUp", transports)
       VALUES (${q(x.credentialID)}, ${q(ids.user)}, ${q(x.providerAccountId)}, ${q(x.credentialPublicKey)}, ${x.counter}, ${q(x.credentialDeviceType)}, ${x.credentialBackedUp ? 1 : 0}, ${q(x.transports)});`,
       )
       .join("\n")}`,
  );
  const user = { id: ids.user, ...u };
  return {
    user,
    bare: { id: ids.bare, ...f.bare },
    account: { id: ids.account, userId: ids.user, ...a },
    session: { id: sessionIds[0], userId: ids.user, ...f.session },
    expired: { id: sessionIds[1], userId: ids.user, ...f.expired },
    verificationToken: f.verificationToken,
    authenticators: f.authenticators.map((x) => ({ ...x, userId: ids.user })),
  };
}

const byCredential = (a: any, b: any) => a.credentialID.localeCompare(b.credentialID);

/** authbridge reads rows someone else wrote, and answers exactly their values. */
export async function authbridgeReads(ab: Authbridge, w: Written): Promise<void> {
  assert.deepEqual(await ab.call("getUser", { id: w.user.id }), w.user);
  assert.deepEqual(await ab.call("getUser", { id: w.bare.id }), w.bare);
  assert.deepEqual(await ab.call("getUserByEmail", { email: w.user.email }), w.user);
  const key = { provider: w.account.provider, providerAccountId: w.account.providerAccountId };
  assert.deepEqual(await ab.call("getUserByAccount", key), w.user);
  assert.deepEqual(await ab.call("getAccount", key), w.account);
  assert.deepEqual(
    await ab.call("getSessionAndUser", { sessionToken: w.session.sessionToken, slide: false }),
    { session: w.session, user: w.user },
  );
  assert.equal(await ab.call("getSessionAndUser", { sessionToken: w.expired.sessionToken }), null, "expired is compared correctly");
  assert.deepEqual(await ab.call("getAuthenticator", { credentialID: w.authenticators[0].credentialID }), w.authenticators[0]);
  const listed = await ab.call("listAuthenticatorsByUserId", { userId: w.user.id });
  assert.deepEqual([...listed].sort(byCredential), [...w.authenticators].sort(byCredential));
}

/** Prisma Client reads rows authbridge wrote: same values, and real Dates, booleans and nulls. */
export async function prismaReads(auth: any, w: Written): Promise<void> {
  const user = await auth.getUser(w.user.id);
  assert.ok(user.emailVerified instanceof Date, "emailVerified is a Date");
  assert.deepEqual(wire(user), w.user);
  const bare = await auth.getUser(w.bare.id);
  assert.equal(bare.emailVerified, null);
  assert.deepEqual(wire(bare), w.bare);
  assert.deepEqual(wire(await auth.getUserByEmail(w.user.email)), w.user);
  const key = { provider: w.account.provider, providerAccountId: w.account.providerAccountId };
  assert.deepEqual(wire(await auth.getUserByAccount(key)), w.user);
  const account = await auth.getAccount(key.providerAccountId, key.provider);
  assert.equal(typeof account.expires_at, "number");
  assert.deepEqual(wire(account), w.account);
  const found = await auth.getSessionAndUser(w.session.sessionToken);
  assert.ok(found.session.expires instanceof Date, "expires is a Date");
  assert.equal(found.session.expires.getTime(), Date.parse(w.session.expires), "equal to the millisecond");
  assert.deepEqual(wire({ ...found, session: authjsSession(found.session) }), { session: w.session, user: w.user });
  for (const expected of w.authenticators) {
    const got = await auth.getAuthenticator(expected.credentialID);
    assert.equal(typeof got.credentialBackedUp, "boolean");
    assert.deepEqual(wire(got), expected);
  }
  const listed = wire(await auth.listAuthenticatorsByUserId(w.user.id));
  assert.deepEqual([...listed].sort(byCredential), [...w.authenticators].sort(byCredential));
}

/** The columns that hold the same value for every writer, per table, and how to find a row. */
const COMPARED: Record<string, { key: string; columns: string[] }> = {
  users: { key: "id", columns: ["name", "emailVerified", "image"] },
  accounts: {
    key: "id",
    columns: ["type", "provider", "refresh_token", "access_token", "expires_at", "token_type", "scope", "id_token", "session_state"],
  },
  sessions: { key: "sessionToken", columns: ["expires"] },
  verification_tokens: { key: "token", columns: ["expires"] },
  authenticators: {
    key: "credentialID",
    columns: ["credentialPublicKey", "counter", "credentialDeviceType", "credentialBackedUp", "transports"],
  },
};

/** One row's stored form: SQLite quote() (type and value), PostgreSQL and MySQL the value as text. */
async function stored(db: Scratch, table: string, key: string, value: string, schema?: string): Promise<Record<string, unknown>> {
  const { key: column, columns } = COMPARED[table];
  const q = db.provider === "mysql" ? (c: string) => `\`${c}\`` : (c: string) => `"${c}"`;
  const select = columns
    .map((c) =>
      db.provider === "sqlite"
        ? `quote(${q(c)}) AS ${q(c)}`
        : db.provider === "mysql"
          ? `CAST(${q(c)} AS CHAR) AS ${q(c)}`
          : `${q(c)}::text AS ${q(c)}`,
    )
    .join(", ");
  const placeholder = db.provider === "pg" ? "$1" : "?";
  const rows = await rawRows(db, `SELECT ${select} FROM ${table} WHERE ${q(column)} = ${placeholder}`, [value], schema);
  assert.equal(rows.length, 1, `${table} row ${key}`);
  return rows[0];
}

/** The rows of two writers hold the same bytes in every column that holds the same value. */
export async function sameBytes(db: Scratch, a: Written, b: Written, schema?: string): Promise<void> {
  const pairs: [string, string, string][] = [
    ["users", a.user.id, b.user.id],
    ["users", a.bare.id, b.bare.id],
    ["accounts", a.account.id, b.account.id],
    ["sessions", a.session.sessionToken, b.session.sessionToken],
    ["sessions", a.expired.sessionToken, b.expired.sessionToken],
    ["verification_tokens", a.verificationToken.token, b.verificationToken.token],
    ["authenticators", a.authenticators[0].credentialID, b.authenticators[0].credentialID],
    ["authenticators", a.authenticators[1].credentialID, b.authenticators[1].credentialID],
  ];
  for (const [table, x, y] of pairs) {
    assert.deepEqual(await stored(db, table, "other writer", y, schema), await stored(db, table, "first writer", x, schema), `${table}: stored alike`);
  }
}
