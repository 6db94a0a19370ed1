// AuthBridgeClient.rotateSessionIfDue against the real authbridge binary, on every backend, with a
// short grace window (AUTHBRIDGE_ROTATION_GRACE): not due, due, a parallel request's old token inside
// the window, the old token after it (reuse: the session is revoked), and rotatedAt in the list.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

import {
  AuthBridgeAdapter,
  AuthBridgeClient,
  type AuthBridgeAdapterMethods,
  type AuthBridgeClientMethods,
} from "../../src/index.ts";
import { backends, startService, type Service } from "./service.ts";

const TOKEN = /^[0-9a-f]{64}$/;
const GRACE_SECONDS = 2;

for (const { backend, skip } of backends()) {
  describe(`rotateSessionIfDue against authbridge on ${backend}`, { skip }, () => {
    let service: Service;
    let adapter: AuthBridgeAdapterMethods;
    let client: AuthBridgeClientMethods;
    let userId = "";

    before(async () => {
      service = await startService(backend, { AUTHBRIDGE_ROTATION_GRACE: `${GRACE_SECONDS}s` });
      adapter = AuthBridgeAdapter({ url: service.url, apiKey: service.apiKey });
      client = AuthBridgeClient({ url: service.url, apiKey: service.apiKey });
      userId = (await adapter.createUser({ email: `ada-${randomUUID()}@example.com`, emailVerified: null })).id;
    });
    after(async () => {
      await service?.stop();
    });

    const signIn = async () => {
      const token = randomUUID();
      const session = await adapter.createSession({
        sessionToken: token,
        userId,
        expires: new Date(Date.now() + 3_600_000),
      });
      return { token, id: session.id! };
    };

    test("not due: the session unchanged with the token sent; due: a new token, same id, rotatedAt set", async () => {
      const { token, id } = await signIn();
      const [fresh] = (await client.listSessions(userId)).filter((row) => row.id === id);
      assert.equal(fresh?.rotatedAt, null, "never rotated");

      const early = await client.rotateSessionIfDue(token, { rotateAfter: 3600 });
      assert.ok(early);
      assert.equal(early.rotated, false);
      assert.equal(early.session.sessionToken, token);
      assert.equal(early.session.id, id);

      const before = Date.now();
      const due = await client.rotateSessionIfDue(token, {
        rotateAfter: 0,
        maxAge: 1800,
        context: { userAgent: "Firefox/140.0" },
      });
      assert.ok(due);
      assert.equal(due.rotated, true);
      assert.match(due.session.sessionToken, TOKEN);
      assert.equal(due.session.id, id);
      assert.ok(due.session.expires instanceof Date);
      assert.ok(Math.abs(due.session.expires.getTime() - (before + 1_800_000)) < 30_000, "expires is now + maxAge");
      const [row] = (await client.listSessions(userId)).filter((r) => r.id === id);
      assert.ok(row?.rotatedAt instanceof Date, "rotatedAt is a Date");
      assert.ok(row.rotatedAt.getTime() >= before - 1000);
      assert.equal(row.userAgent, "Firefox/140.0");

      // Just rotated: not due again, even with a short interval.
      const again = await client.rotateSessionIfDue(due.session.sessionToken, { rotateAfter: 60 });
      assert.equal(again?.rotated, false);
      assert.equal(again.session.sessionToken, due.session.sessionToken);
    });

    test("the old token: honoured inside the grace window, never given the new one; after it, reuse revokes", async () => {
      const { token, id } = await signIn();
      const rotated = await client.rotateSessionIfDue(token, { rotateAfter: 0 });
      assert.equal(rotated?.rotated, true);
      const fresh = rotated.session.sessionToken;

      // A parallel request of the same browser, still carrying the old cookie.
      const late = await client.rotateSessionIfDue(token, { rotateAfter: 0 });
      assert.equal(late?.rotated, false, "inside the window the old token does not rotate again");
      assert.equal(late.session.sessionToken, token, "and is not told the new token");
      assert.equal(late.session.id, id);
      const read = await adapter.getSessionAndUser(token);
      assert.equal(read?.session.id, id, "reads with the old token see the session");
      assert.equal(read.user.id, userId);

      await sleep((GRACE_SECONDS + 1) * 1000);
      assert.equal(await client.rotateSessionIfDue(token, { rotateAfter: 0 }), null, "reuse after the window");
      assert.equal(await adapter.getSessionAndUser(fresh), null, "the holder of the new token is signed out too");
      assert.ok(!(await client.listSessions(userId, { active: false })).some((row) => row.id === id), "revoked");
    });

    test("no session: null for an unknown token", async () => {
      assert.equal(await client.rotateSessionIfDue(randomUUID(), { rotateAfter: 0 }), null);
    });
  });
}
