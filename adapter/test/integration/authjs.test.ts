// The real @auth/core Auth() handler with this adapter and database sessions, against the real
// service: GET /api/auth/session with a session cookie returns the user and slides the cookie's
// expiry (the service slid the row in the same call, so core never calls updateSession); an
// expired session returns null and clears the cookie.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";

import { Auth, type AuthConfig } from "@auth/core";
import GitHub from "@auth/core/providers/github";

import { AuthBridgeAdapter, type AuthBridgeAdapterMethods } from "../../src/index.ts";
import { backends, startService, type Service } from "./service.ts";

// Small ages so that a slide is due at once: a session with 10 s left of a 60 s life is due when
// 10 - 60 + 40 <= 0. (updateAge 0 would not do: core itself then writes on every read.)
const MAX_AGE = 60;
const UPDATE_AGE = 40;
const COOKIE = "authjs.session-token";

/** Records which adapter methods core calls, keeping the adapter a plain object of own methods. */
function counting(adapter: AuthBridgeAdapterMethods, calls: string[]): AuthBridgeAdapterMethods {
  return Object.fromEntries(
    Object.entries(adapter).map(([name, fn]) => [
      name,
      (...args: unknown[]) => {
        calls.push(name);
        return (fn as (...a: unknown[]) => unknown)(...args);
      },
    ]),
  ) as unknown as AuthBridgeAdapterMethods;
}

function sessionCookie(response: Response): { value: string; expires?: Date; maxAge?: number } {
  const header = response.headers.getSetCookie().find((c) => c.startsWith(`${COOKIE}=`));
  assert.ok(header, `a Set-Cookie for ${COOKIE}; got ${JSON.stringify(response.headers.getSetCookie())}`);
  const [pair, ...attributes] = header.split(";").map((p) => p.trim());
  const cookie: { value: string; expires?: Date; maxAge?: number } = { value: pair!.slice(COOKIE.length + 1) };
  for (const attribute of attributes) {
    const [name, value = ""] = attribute.split("=");
    if (name!.toLowerCase() === "expires") cookie.expires = new Date(value);
    if (name!.toLowerCase() === "max-age") cookie.maxAge = Number(value);
  }
  return cookie;
}

for (const { backend, skip } of backends()) {
  describe(`@auth/core Auth() with the database strategy on ${backend}`, { skip }, () => {
    let service: Service;
    let adapter: AuthBridgeAdapterMethods;
    const calls: string[] = [];
    const errors: Error[] = [];
    let config: AuthConfig;

    before(async () => {
      service = await startService(backend);
      adapter = AuthBridgeAdapter({ url: service.url, apiKey: service.apiKey, maxAge: MAX_AGE, updateAge: UPDATE_AGE });
      config = {
        adapter: counting(adapter, calls),
        session: { strategy: "database", maxAge: MAX_AGE, updateAge: UPDATE_AGE },
        providers: [GitHub({ clientId: "client-id", clientSecret: "client-secret" })],
        secret: "an-auth-secret-that-is-long-enough-0123456789",
        trustHost: true,
        basePath: "/api/auth",
        // Core logs adapter failures and answers "no session": a logged error must fail the test.
        logger: { error: (error) => errors.push(error) },
      };
    });
    after(async () => {
      await service?.stop();
      assert.deepEqual(errors.map(String), [], "Auth.js logged no error");
    });

    const sessionRequest = (token: string) =>
      new Request("http://localhost:3000/api/auth/session", { headers: { cookie: `${COOKIE}=${token}` } });

    test("a valid session cookie returns the user, and the cookie's expiry slides", async () => {
      const user = await adapter.createUser({ name: "Grace", email: `grace-${randomUUID()}@example.com`, image: null });
      const token = randomUUID();
      const created = await adapter.createSession({
        sessionToken: token,
        userId: user.id,
        expires: new Date(Date.now() + 10_000),
      });

      calls.length = 0;
      const response = await Auth(sessionRequest(token), config);
      assert.equal(response.status, 200);
      const body = (await response.json()) as { user: { name: string; email: string }; expires: string };
      assert.equal(body.user.name, "Grace");
      assert.equal(body.user.email, user.email);

      const cookie = sessionCookie(response);
      assert.equal(cookie.value, token);
      assert.ok(cookie.expires, "the cookie has an Expires attribute");
      // Cookie dates have whole seconds; the session had 10 s left, the new cookie about 60 s.
      assert.ok(cookie.expires.getTime() > created.expires.getTime(), "the cookie's expiry moved forward");

      // The service slid the row inside getSessionAndUser, so core had nothing left to write.
      assert.deepEqual(calls, ["getSessionAndUser"]);
      const stored = await AuthBridgeAdapter({
        url: service.url,
        apiKey: service.apiKey,
        maxAge: MAX_AGE,
        updateAge: MAX_AGE,
      }).getSessionAndUser(token);
      assert.ok(stored, "the session is still there");
      assert.ok(stored.session.expires.getTime() > created.expires.getTime(), "the stored expiry moved forward too");
      assert.equal(new Date(body.expires).getTime(), stored.session.expires.getTime(), "core reports the slid expiry");
    });

    test("an expired session returns null and clears the cookie", async () => {
      const user = await adapter.createUser({ name: "Expired", email: `old-${randomUUID()}@example.com` });
      const token = randomUUID();
      await adapter.createSession({ sessionToken: token, userId: user.id, expires: new Date(Date.now() - 1000) });

      calls.length = 0;
      const response = await Auth(sessionRequest(token), config);
      assert.equal(response.status, 200);
      assert.equal(await response.json(), null);
      const cookie = sessionCookie(response);
      assert.equal(cookie.value, "", "the cookie is emptied");
      assert.ok(
        cookie.maxAge === 0 || (cookie.expires !== undefined && cookie.expires.getTime() <= Date.now()),
        "and expires now",
      );
      assert.deepEqual(calls, ["getSessionAndUser"]);
    });

    test("an unknown token returns null and clears the cookie", async () => {
      const response = await Auth(sessionRequest(randomUUID()), config);
      assert.equal(await response.json(), null);
      assert.equal(sessionCookie(response).value, "");
    });
  });
}
