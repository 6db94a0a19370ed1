// AuthBridgeClient against the real authbridge binary, on every backend: each management method,
// its Dates, its errors, and what it does to the sessions the adapter created.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";

import {
  AuthBridgeAdapter,
  AuthBridgeClient,
  type AuthBridgeAdapterMethods,
  type AuthBridgeClientMethods,
  type SessionInfo,
} from "../../src/index.ts";
import { rejection } from "../assertions.ts";
import { backends, startService, type Service } from "./service.ts";

const TOKEN = /^[0-9a-f]{64}$/;
const inSeconds = (s: number) => new Date(Date.now() + s * 1000);

function assertInfo(row: SessionInfo | null | undefined, id: string, userId: string, expires: Date) {
  assert.ok(row, `session ${id} is listed`);
  assert.equal(row.id, id);
  assert.equal(row.userId, userId);
  assert.ok(row.expires instanceof Date, "expires is a Date");
  assert.equal(row.expires.getTime(), expires.getTime());
  assert.ok(!("sessionToken" in row), "a management view never holds a token");
}

for (const { backend, skip } of backends()) {
  describe(`AuthBridgeClient against authbridge on ${backend}`, { skip }, () => {
    let service: Service;
    let adapter: AuthBridgeAdapterMethods;
    let client: AuthBridgeClientMethods;
    let userId = "";
    let otherUserId = "";
    // One user's devices, created by the adapter as Auth.js would: [token, id, expires].
    const devices: { token: string; id: string; expires: Date }[] = [];

    before(async () => {
      service = await startService(backend);
      adapter = AuthBridgeAdapter({ url: service.url, apiKey: service.apiKey });
      client = AuthBridgeClient({ url: service.url, apiKey: service.apiKey });
      userId = (await adapter.createUser({ email: `grace-${randomUUID()}@example.com`, emailVerified: null })).id;
      otherUserId = (await adapter.createUser({ email: `linus-${randomUUID()}@example.com`, emailVerified: null })).id;
      for (const seconds of [3600, 7200, -60]) {
        const token = randomUUID();
        const expires = inSeconds(seconds);
        const session = await adapter.createSession({ sessionToken: token, userId, expires });
        devices.push({ token, id: session.id!, expires });
      }
      await adapter.createSession({ sessionToken: randomUUID(), userId: otherUserId, expires: inSeconds(600) });
    });
    after(async () => {
      await service?.stop();
    });

    test("listSessions: live sessions newest expiry first, all with active: false, at most limit", async () => {
      const [hour, twoHours, expired] = devices as [(typeof devices)[0], (typeof devices)[0], (typeof devices)[0]];
      const live = await client.listSessions(userId);
      assert.equal(live.length, 2);
      assertInfo(live[0], twoHours.id, userId, twoHours.expires);
      assertInfo(live[1], hour.id, userId, hour.expires);
      assert.deepEqual(await client.listSessions(userId, { active: true }), live);

      const all = await client.listSessions(userId, { active: false });
      assert.deepEqual(
        all.map((row) => row.id),
        [twoHours.id, hour.id, expired.id],
      );
      assertInfo(all[2], expired.id, userId, expired.expires);
      const limited = await client.listSessions(userId, { active: false, limit: 2 });
      assert.deepEqual(limited, all.slice(0, 2));
      assert.deepEqual(await client.listSessions("cnosuchuser00000000000000"), []);

      for (const limit of [0, 1001]) {
        const error = await rejection(client.listSessions(userId, { limit }));
        assert.equal(error.code, "invalid_argument");
        assert.equal(error.status, 400);
        assert.equal(error.field, "limit");
        assert.equal(error.method, "listSessions");
        assert.match(error.requestId ?? "", /.+/);
      }
    });

    test("userSessionStats and sessionStats count live and expired sessions", async () => {
      const mine = await client.userSessionStats(userId);
      assert.deepEqual(
        { ...mine, latestExpires: mine.latestExpires?.getTime() },
        { totalSessions: 3, activeSessions: 2, expiredSessions: 1, latestExpires: devices[1]!.expires.getTime() },
      );
      assert.ok(mine.latestExpires instanceof Date);
      assert.deepEqual(await client.userSessionStats("cnosuchuser00000000000000"), {
        totalSessions: 0,
        activeSessions: 0,
        expiredSessions: 0,
        latestExpires: null,
      });
      assert.deepEqual(await client.sessionStats(), {
        activeSessions: 3,
        expiredSessions: 1,
        usersWithActiveSessions: 2,
        expiringWithin24h: 3,
      });
    });

    test("rotateSession: a new token for the same session; the old one only reads it for the grace window", async () => {
      const device = devices[0]!;
      const before = Date.now();
      const rotated = await client.rotateSession(device.token, { maxAge: 1800 });
      assert.ok(rotated, "the live session is rotated");
      assert.equal(rotated.id, device.id);
      assert.equal(rotated.userId, userId);
      assert.match(rotated.sessionToken, TOKEN);
      assert.ok(rotated.expires instanceof Date);
      assert.ok(Math.abs(rotated.expires.getTime() - (before + 1_800_000)) < 30_000, "expires is now + maxAge");
      // The service's schema has the rotation columns: for --rotation-grace (30 s by default) the
      // old token still reads the session (a browser's requests in flight), but never rotates it
      // again (rotation.test.ts covers the window's end).
      const old = await adapter.getSessionAndUser(device.token);
      assert.equal(old?.session.id, device.id, "inside the grace window the old token reads the session");
      assert.equal(old.session.sessionToken, device.token, "and is never told the new token");
      assert.equal((await adapter.getSessionAndUser(rotated.sessionToken))?.session.id, device.id);
      assert.equal(await client.rotateSession(device.token), null, "rotating a replaced token gives null");
      assert.equal(await client.rotateSession(devices[2]!.token), null, "an expired session is not rotated");
      device.token = rotated.sessionToken;
      device.expires = rotated.expires;

      const error = await rejection(client.rotateSession(rotated.sessionToken, { maxAge: -1 }));
      assert.equal(error.code, "invalid_argument");
      assert.equal(error.field, "maxAge");
    });

    test("revokeSession signs one device out and returns it, then null", async () => {
      const device = devices[1]!;
      const revoked = await client.revokeSession(device.id);
      assertInfo(revoked, device.id, userId, device.expires);
      assert.equal(await client.revokeSession(device.id), null);
      assert.equal(await adapter.getSessionAndUser(device.token), null);
    });

    test("revokeOtherSessions keeps one device; revokeAllSessions ends the rest", async () => {
      const extra = await adapter.createSession({ sessionToken: randomUUID(), userId, expires: inSeconds(900) });
      const keep = devices[0]!;
      // The extra live session and the expired one go.
      assert.equal(await client.revokeOtherSessions(userId, keep.id), 2);
      assert.deepEqual(
        (await client.listSessions(userId, { active: false })).map((row) => row.id),
        [keep.id],
      );
      assert.notEqual(extra.id, keep.id);
      assert.equal(await client.revokeAllSessions(userId), 1);
      assert.deepEqual(await client.listSessions(userId, { active: false }), []);
      assert.equal(await client.revokeAllSessions(userId), 0);
      assert.equal(await client.revokeOtherSessions("cnosuchuser00000000000000", "x"), 0);
    });

    test("purgeExpired deletes expired sessions batch by batch and keeps live ones", async () => {
      for (const seconds of [-30, -20, -10]) {
        await adapter.createSession({ sessionToken: randomUUID(), userId: otherUserId, expires: inSeconds(seconds) });
      }
      await adapter.createVerificationToken({
        identifier: "x@example.com",
        token: randomUUID(),
        expires: inSeconds(-5),
      });
      assert.deepEqual(await client.purgeExpired({ batchSize: 2 }), {
        sessionsDeleted: 3,
        verificationTokensDeleted: 1,
      });
      assert.deepEqual(await client.purgeExpired(), { sessionsDeleted: 0, verificationTokensDeleted: 0 });
      assert.equal((await client.listSessions(otherUserId)).length, 1, "the live session stays");
      const error = await rejection(client.purgeExpired({ batchSize: 0 }));
      assert.equal(error.field, "batchSize");
    });

    test("device metadata: the adapter's context at sign-in, a rotation's context, Dates for the times", async () => {
      const laptop = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0";
      const phone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Version/17.5 Mobile/15E148 Safari/604.1";
      const signingIn = AuthBridgeAdapter({
        url: service.url,
        apiKey: service.apiKey,
        context: async () => ({ ipAddress: "203.0.113.9", userAgent: laptop }),
      });
      const owner = (await signingIn.createUser({ email: `ada-${randomUUID()}@example.com`, emailVerified: null })).id;
      const before = Date.now();
      const session = await signingIn.createSession({
        sessionToken: randomUUID(),
        userId: owner,
        expires: inSeconds(600),
      });
      assert.deepEqual(Object.keys(session).sort(), ["expires", "id", "sessionToken", "userId"], "the Auth.js shape");
      const [row] = await client.listSessions(owner);
      assert.ok(row?.createdAt instanceof Date && row.updatedAt instanceof Date, "createdAt and updatedAt are Dates");
      assert.ok(row.createdAt.getTime() >= before - 1000, "created now");
      assert.equal(row.updatedAt.getTime(), row.createdAt.getTime(), "creation writes the row once");
      assert.deepEqual([row.ipAddress, row.userAgent], ["203.0.113.9", laptop]);

      const rotated = await client.rotateSession(session.sessionToken, { context: { userAgent: phone } });
      assert.equal(rotated?.id, session.id);
      const [after] = await client.listSessions(owner);
      assert.deepEqual(
        [after?.ipAddress, after?.userAgent],
        ["203.0.113.9", phone],
        "the address stays, the agent is new",
      );
      assert.ok(after!.updatedAt!.getTime() >= row.updatedAt.getTime());
      assert.equal(after!.createdAt!.getTime(), row.createdAt.getTime());

      const tooLong = await rejection(
        client.rotateSession(rotated!.sessionToken, { context: { ipAddress: "1".repeat(65) } }),
      );
      assert.equal(tooLong.code, "invalid_argument");
      assert.equal(tooLong.field, "context.ipAddress");
      const revoked = await client.revokeSession(session.id!);
      assert.equal(revoked?.userAgent, phone);
    });

    test("a wrong key is unauthenticated; an outage is network_error", async () => {
      const denied = await rejection(AuthBridgeClient({ url: service.url, apiKey: "not-the-key" }).sessionStats());
      assert.equal(denied.code, "unauthenticated");
      assert.equal(denied.status, 401);
      await service.stop();
      const down = await rejection(client.listSessions(userId));
      assert.equal(down.code, "network_error");
    });
  });
}
