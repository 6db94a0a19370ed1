// Every adapter method against the real authbridge binary, called the way Auth.js core calls it,
// on SQLite and on PostgreSQL. Every date that comes back must be a real Date.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";

import { AuthBridgeAdapter, type AuthBridgeAdapterMethods } from "../../src/index.ts";
import { rejection } from "../assertions.ts";
import { backends, startService, type Service } from "./service.ts";

const CUID = /^c[0-9a-z]{24}$/;
const inSeconds = (s: number) => new Date(Date.now() + s * 1000);

function assertDate(value: unknown, what: string): asserts value is Date {
  assert.ok(value instanceof Date, `${what} must be a Date, got ${typeof value} ${String(value)}`);
  assert.ok(!Number.isNaN(value.getTime()), `${what} must be a valid Date`);
}

for (const { backend, skip } of backends()) {
  describe(`adapter against authbridge on ${backend}`, { skip }, () => {
    let service: Service;
    let adapter: AuthBridgeAdapterMethods;

    before(async () => {
      service = await startService(backend);
      adapter = AuthBridgeAdapter({ url: service.url, apiKey: service.apiKey });
    });
    after(async () => {
      await service?.stop();
    });

    // Shared by the steps below, in order: they are one user's life.
    let userId = "";
    const email = `ada-${randomUUID()}@example.com`;
    const oauth = { provider: "github", providerAccountId: `gh-${randomUUID()}` };

    test("OAuth sign-up: getUserByAccount null, getUserByEmail null, createUser, linkAccount, createSession", async () => {
      assert.equal(await adapter.getUserByAccount(oauth), null);
      assert.equal(await adapter.getUserByEmail(email), null);
      // Core sends the profile with an id of its own; the service generates a cuid instead.
      const user = await adapter.createUser({
        id: randomUUID(),
        name: "Ada",
        email,
        emailVerified: null,
        image: "https://img/a.png",
      });
      assert.match(user.id, CUID);
      assert.equal(user.email, email);
      assert.equal(user.emailVerified, null);
      userId = user.id;

      const account = await adapter.linkAccount({
        ...oauth,
        type: "oauth",
        userId,
        access_token: "gho_access",
        token_type: "bearer",
        scope: "read:user user:email",
        expires_at: Math.floor(Date.now() / 1000) + 28_800,
        refresh_token: "ghr_refresh",
        // A provider extra with no column: dropped by the service, never a crash.
        ...({ refresh_token_expires_in: 15_897_600 } as object),
      });
      assert.equal(account.userId, userId);
      assert.equal(account.provider, "github");
      assert.equal(account.access_token, "gho_access");
      assert.equal(account.id_token, null);
      assert.ok(!("refresh_token_expires_in" in account), "the provider extra was dropped");

      const expires = inSeconds(30 * 86_400);
      const sessionToken = randomUUID();
      const session = await adapter.createSession({ sessionToken, userId, expires });
      assertDate(session.expires, "createSession().expires");
      assert.equal(session.expires.getTime(), expires.getTime());
      assert.equal(session.sessionToken, sessionToken);
      assert.equal(session.userId, userId);
    });

    test("sign-in again: getUserByAccount and getAccount find the user and the account", async () => {
      const user = await adapter.getUserByAccount(oauth);
      assert.equal(user?.id, userId);
      assert.equal(user?.emailVerified, null);
      const byId = await adapter.getUser(userId);
      assert.deepEqual(byId, user);
      const account = await adapter.getAccount(oauth.providerAccountId, oauth.provider);
      assert.equal(account?.userId, userId);
      assert.equal(await adapter.getAccount("nobody", "github"), null);
    });

    test("reading the session slides the expiry when due, in the same call, and never returns an expired one", async () => {
      const original = inSeconds(120);
      const token = randomUUID();
      await adapter.createSession({ sessionToken: token, userId, expires: original });

      // Not due: maxAge 120 s, updateAge 60 s, and 120 s left (due only with 60 s or less left).
      const notDue = AuthBridgeAdapter({ url: service.url, apiKey: service.apiKey, maxAge: 120, updateAge: 60 });
      const read = await notDue.getSessionAndUser(token);
      assert.ok(read, "the session is found");
      assertDate(read.session.expires, "getSessionAndUser().session.expires");
      assert.equal(read.session.expires.getTime(), original.getTime(), "not due: unchanged");
      assert.equal(read.user.id, userId);
      assert.equal(read.user.emailVerified, null);

      // Due (updateAge 0 slides on every read): expires moves to now + maxAge in the same round trip.
      const sliding = AuthBridgeAdapter({ url: service.url, apiKey: service.apiKey, maxAge: 3600, updateAge: 0 });
      const before = Date.now();
      const slid = await sliding.getSessionAndUser(token);
      assert.ok(slid, "the session is found");
      assertDate(slid.session.expires, "slid expires");
      assert.ok(slid.session.expires.getTime() > original.getTime(), "the expiry moved forward");
      assert.ok(slid.session.expires.getTime() >= before + 3600_000 - 1000, "to about now + maxAge");
      // The slide was stored: a read that is never due (updateAge = maxAge) returns the new expiry.
      const reader = AuthBridgeAdapter({ url: service.url, apiKey: service.apiKey, maxAge: 3600, updateAge: 3600 });
      const again = await reader.getSessionAndUser(token);
      assert.equal(again?.session.expires.getTime(), slid.session.expires.getTime());

      // updateSession, as core calls it when it does decide to write.
      const later = inSeconds(7200);
      const updated = await adapter.updateSession({ sessionToken: token, expires: later });
      assertDate(updated?.expires, "updateSession().expires");
      assert.equal(updated.expires.getTime(), later.getTime());
      assert.equal(await adapter.updateSession({ sessionToken: randomUUID(), expires: later }), null);

      const expiredToken = randomUUID();
      const expired = await adapter.createSession({ sessionToken: expiredToken, userId, expires: inSeconds(-5) });
      assertDate(expired.expires, "an expired session's expires");
      assert.equal(await adapter.getSessionAndUser(expiredToken), null);
    });

    test("sign-out: deleteSession returns the session, then null; the token stops working", async () => {
      const token = randomUUID();
      await adapter.createSession({ sessionToken: token, userId, expires: inSeconds(3600) });
      const deleted = await adapter.deleteSession(token);
      assertDate(deleted?.expires, "deleteSession().expires");
      assert.equal(deleted.sessionToken, token);
      assert.equal(await adapter.deleteSession(token), null, "a second sign-out is not an error");
      assert.equal(await adapter.getSessionAndUser(token), null);
    });

    test("email sign-in: createVerificationToken, useVerificationToken once, then null; emailVerified is a Date", async () => {
      const identifier = email;
      const token = randomUUID().replace(/-/g, "");
      const expires = inSeconds(86_400);
      const created = await adapter.createVerificationToken({ identifier, token, expires });
      assertDate(created.expires, "createVerificationToken().expires");
      assert.equal(created.expires.getTime(), expires.getTime());
      const dup = await rejection(adapter.createVerificationToken({ identifier, token, expires }));
      assert.equal(dup.code, "already_exists");
      assert.equal(dup.status, 409);

      const used = await adapter.useVerificationToken({ identifier, token });
      assertDate(used?.expires, "useVerificationToken().expires");
      assert.deepEqual(used, { identifier, token, expires });
      assert.equal(await adapter.useVerificationToken({ identifier, token }), null, "a second use finds nothing");

      // An expired token is still handed back once (core reports "expired").
      const stale = await adapter.createVerificationToken({ identifier, token: "stale", expires: inSeconds(-60) });
      assertDate(
        (await adapter.useVerificationToken({ identifier, token: "stale" }))?.expires,
        "expired token expires",
      );
      assert.ok(stale.expires.getTime() < Date.now(), "the token was expired");

      // Core then finds the user by email and marks the address verified.
      const user = await adapter.getUserByEmail(email);
      assert.equal(user?.id, userId);
      const verifiedAt = new Date();
      const verified = await adapter.updateUser({ id: userId, emailVerified: verifiedAt });
      assertDate(verified.emailVerified, "updateUser().emailVerified");
      assert.equal(verified.emailVerified.getTime(), verifiedAt.getTime());
      assert.equal(verified.name, "Ada", "absent fields are unchanged");
      const reread = await adapter.getUser(userId);
      assertDate(reread?.emailVerified, "getUser().emailVerified");
    });

    test("WebAuthn: createAuthenticator, getAuthenticator, listAuthenticatorsByUserId, updateAuthenticatorCounter", async () => {
      const credentialID = `cred-${randomUUID()}`;
      // Core links a webauthn account for the credential, then stores the authenticator.
      await adapter.linkAccount({ userId, type: "webauthn", provider: "passkey", providerAccountId: credentialID });
      const authenticator = {
        credentialID,
        userId,
        providerAccountId: credentialID,
        credentialPublicKey: "pQECAyYgASFYIK1e",
        counter: 0,
        credentialDeviceType: "multiDevice",
        credentialBackedUp: true,
        transports: "internal,hybrid",
      };
      assert.deepEqual(await adapter.createAuthenticator(authenticator), authenticator);
      assert.deepEqual(await adapter.getAuthenticator(credentialID), authenticator);
      assert.deepEqual(await adapter.listAuthenticatorsByUserId(userId), [authenticator]);
      const bumped = await adapter.updateAuthenticatorCounter(credentialID, 7);
      assert.equal(bumped.counter, 7);
      assert.equal((await adapter.getAuthenticator(credentialID))?.counter, 7);
      assert.equal(await adapter.getAuthenticator("no-such-credential"), null);
      assert.deepEqual(await adapter.listAuthenticatorsByUserId("no-such-user"), []);
      const missing = await rejection(adapter.updateAuthenticatorCounter("no-such-credential", 1));
      assert.equal(missing.code, "not_found");
      assert.equal(missing.status, 404);
    });

    test("failures throw AuthBridgeError with code, status and request id; they never read as null", async () => {
      const dup = await rejection(adapter.linkAccount({ ...oauth, type: "oauth", userId }));
      assert.equal(dup.code, "already_exists");
      assert.equal(dup.status, 409);
      assert.match(dup.requestId ?? "", /.+/);
      const orphan = await rejection(
        adapter.createSession({
          sessionToken: randomUUID(),
          userId: "cnosuchuser00000000000000",
          expires: inSeconds(60),
        }),
      );
      assert.equal(orphan.code, "failed_precondition");
      assert.equal(orphan.status, 422);
      const unknown = await rejection(adapter.updateUser({ id: "cnosuchuser00000000000000", name: "x" }));
      assert.equal(unknown.code, "not_found");
      const bad = await rejection(adapter.getUser(""));
      assert.equal(bad.code, "invalid_argument");
      assert.equal(bad.field, "id");

      const wrongKey = AuthBridgeAdapter({ url: service.url, apiKey: "not-the-key" });
      const denied = await rejection(wrongKey.getSessionAndUser("whatever"));
      assert.equal(denied.code, "unauthenticated");
      assert.equal(denied.status, 401);
      assert.ok(!denied.message.includes("not-the-key"), "the key is not in the message");

      const traced = AuthBridgeAdapter({
        url: service.url,
        apiKey: service.apiKey,
        headers: { "x-request-id": "trace-123" },
      });
      const echoed = await rejection(traced.getUser(""));
      assert.equal(echoed.requestId, "trace-123");
    });

    test("unlinkAccount returns the account, then undefined", async () => {
      const extra = { provider: "gitlab", providerAccountId: `gl-${randomUUID()}` };
      await adapter.linkAccount({ ...extra, type: "oidc", userId });
      const removed = await adapter.unlinkAccount(extra);
      assert.equal(removed?.providerAccountId, extra.providerAccountId);
      assert.equal(await adapter.unlinkAccount(extra), undefined);
    });

    test("deleteUser removes the user and, by cascade, sessions, accounts and authenticators", async () => {
      const token = randomUUID();
      await adapter.createSession({ sessionToken: token, userId, expires: inSeconds(3600) });
      const [credential] = await adapter.listAuthenticatorsByUserId(userId);
      assert.ok(credential, "the user has an authenticator");

      const deleted = await adapter.deleteUser(userId);
      assert.equal(deleted?.id, userId);
      assertDate(deleted?.emailVerified, "deleteUser().emailVerified");

      assert.equal(await adapter.getUser(userId), null);
      assert.equal(await adapter.getUserByEmail(email), null);
      assert.equal(await adapter.getSessionAndUser(token), null);
      assert.equal(await adapter.getUserByAccount(oauth), null);
      assert.equal(await adapter.getAccount(oauth.providerAccountId, oauth.provider), null);
      assert.equal(await adapter.getAuthenticator(credential.credentialID), null);
      assert.deepEqual(await adapter.listAuthenticatorsByUserId(userId), []);
      assert.equal(await adapter.deleteUser(userId), null);
    });

    test("an outage throws network_error instead of looking like a signed-out user", async () => {
      await service.stop();
      const error = await rejection(adapter.getSessionAndUser(randomUUID()));
      assert.equal(error.code, "network_error");
      assert.equal(error.status, 0);
      assert.match(error.requestId ?? "", /.+/);
    });
  });
}
