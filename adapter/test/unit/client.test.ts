// Behaviour of AuthBridgeClient and of the adapter's `context` option that the contract fixtures do
// not reach: request shapes, metadata revival, options, and failures.
import assert from "node:assert/strict";
import { test } from "node:test";

import { AuthBridgeAdapter, AuthBridgeClient, type AuthBridgeClientOptions } from "../../src/index.ts";
import { rejection } from "../assertions.ts";

const URL_ = "http://authbridge.test:7777/base";
const SECRET_TOKEN = "secret-session-token-5c2e";
const SECRET_KEY = "secret-api-key-90d4";

interface Sent {
  url: string;
  init: RequestInit;
  body: unknown;
}

function recorder(answer: (sent: Sent) => unknown = () => null) {
  const sent: Sent[] = [];
  const fetch: typeof globalThis.fetch = async (input, init = {}) => {
    const s = { url: String(input), init, body: init.body === undefined ? undefined : JSON.parse(String(init.body)) };
    sent.push(s);
    const value = answer(s);
    return value instanceof Response
      ? value
      : new Response(JSON.stringify(value), { headers: { "content-type": "application/json" } });
  };
  return { sent, fetch };
}

function clientWith(fetch: typeof globalThis.fetch, extra: Partial<AuthBridgeClientOptions> = {}) {
  return AuthBridgeClient({ url: URL_, apiKey: SECRET_KEY, fetch, ...extra });
}

const METHODS = [
  "listSessions",
  "revokeSession",
  "revokeOtherSessions",
  "revokeAllSessions",
  "rotateSession",
  "rotateSessionIfDue",
  "userSessionStats",
  "sessionStats",
  "purgeExpired",
];

test("the client is a plain object of the nine management methods", () => {
  const client = AuthBridgeClient({ url: URL_ });
  assert.deepEqual(Object.keys(client).sort(), [...METHODS].sort());
});

test("each method sends its route; ids are encoded path segments, the token travels only in the body", async () => {
  const answers: Record<string, unknown> = {
    "GET /base/v1/users/u%2F1/sessions": [],
    "GET /base/v1/users/u%2F1/sessions?active=false&limit=5": [],
    "DELETE /base/v1/sessions/s%201": null,
    "DELETE /base/v1/users/u%2F1/sessions?except=keep+me": { deleted: 2 },
    "DELETE /base/v1/users/u%2F1/sessions": { deleted: 3 },
    "POST /base/v1/sessions/rotate": null,
    "GET /base/v1/users/u%2F1/session-stats": {
      totalSessions: 0,
      activeSessions: 0,
      expiredSessions: 0,
      latestExpires: null,
    },
    "GET /base/v1/stats/sessions": {
      activeSessions: 1,
      expiredSessions: 2,
      usersWithActiveSessions: 1,
      expiringWithin24h: 0,
    },
    "POST /base/v1/maintenance/purge-expired": { sessionsDeleted: 4, verificationTokensDeleted: 5 },
  };
  const { sent, fetch } = recorder((s) => {
    const url = new URL(s.url);
    const key = `${s.init.method} ${url.pathname}${url.search}`;
    assert.ok(key in answers, `unexpected request ${key}`);
    return answers[key];
  });
  const c = clientWith(fetch);
  assert.deepEqual(await c.listSessions("u/1"), []);
  assert.deepEqual(await c.listSessions("u/1", { active: false, limit: 5 }), []);
  assert.equal(await c.revokeSession("s 1"), null);
  assert.equal(await c.revokeOtherSessions("u/1", "keep me"), 2);
  assert.equal(await c.revokeAllSessions("u/1"), 3);
  assert.equal(await c.rotateSession(SECRET_TOKEN), null);
  await c.rotateSession(SECRET_TOKEN, { maxAge: 60, context: { ipAddress: "203.0.113.9", userAgent: null } });
  assert.deepEqual(await c.userSessionStats("u/1"), {
    totalSessions: 0,
    activeSessions: 0,
    expiredSessions: 0,
    latestExpires: null,
  });
  assert.equal((await c.sessionStats()).expiredSessions, 2);
  assert.deepEqual(await c.purgeExpired(), { sessionsDeleted: 4, verificationTokensDeleted: 5 });
  await c.purgeExpired({ batchSize: 10 });

  for (const s of sent) {
    assert.ok(!s.url.includes("secret"), s.url);
    const headers = new Headers(s.init.headers);
    assert.equal(headers.get("authorization"), `Bearer ${SECRET_KEY}`);
    assert.equal(s.init.cache, "no-store");
    assert.match(headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
    // Only requests with a body say it is JSON.
    assert.equal(headers.get("content-type"), s.init.method === "POST" ? "application/json" : null);
    assert.equal(s.init.body === undefined, s.init.method !== "POST");
  }
  const bodies = sent.filter((s) => s.init.method === "POST").map((s) => s.body);
  assert.deepEqual(bodies, [
    { sessionToken: SECRET_TOKEN },
    { sessionToken: SECRET_TOKEN, maxAge: 60, context: { ipAddress: "203.0.113.9" } },
    {},
    { batchSize: 10 },
  ]);
});

test("sessions come back with Dates; metadata is null when unknown or when the service does not send it", async () => {
  const full = {
    id: "s1",
    userId: "u1",
    expires: "2031-05-06T07:08:09.010Z",
    createdAt: "2031-04-06T07:08:09.010Z",
    updatedAt: "2031-05-01T00:00:00.000Z",
    ipAddress: "2001:db8::1",
    userAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
    rotatedAt: "2031-05-02T00:00:00.000Z",
  };
  const unknown = {
    ...full,
    id: "s2",
    createdAt: null,
    updatedAt: null,
    ipAddress: null,
    userAgent: null,
    rotatedAt: null,
  };
  const older = { id: "s3", userId: "u1", expires: "2031-05-06T07:08:09.010Z" };
  const c = clientWith(recorder(() => [full, unknown, older]).fetch);
  const [a, b, o] = await c.listSessions("u1");
  assert.ok(a?.expires instanceof Date && a.createdAt instanceof Date && a.updatedAt instanceof Date);
  assert.equal(a.createdAt.toISOString(), full.createdAt);
  assert.equal(a.updatedAt.toISOString(), full.updatedAt);
  assert.equal(a.ipAddress, full.ipAddress);
  assert.equal(a.userAgent, full.userAgent);
  assert.ok(a.rotatedAt instanceof Date);
  assert.equal(a.rotatedAt.toISOString(), full.rotatedAt);
  for (const row of [b, o]) {
    assert.ok(row?.expires instanceof Date);
    assert.deepEqual(
      [row.createdAt, row.updatedAt, row.ipAddress, row.userAgent, row.rotatedAt],
      [null, null, null, null, null],
    );
  }

  const revoked = await clientWith(recorder(() => full).fetch).revokeSession("s1");
  assert.ok(revoked?.createdAt instanceof Date);
  const stats = await clientWith(
    recorder(() => ({ totalSessions: 1, activeSessions: 1, expiredSessions: 0, latestExpires: full.expires })).fetch,
  ).userSessionStats("u1");
  assert.ok(stats.latestExpires instanceof Date);
  const rotated = await clientWith(
    recorder(() => ({ id: "s1", sessionToken: "new", userId: "u1", expires: full.expires })).fetch,
  ).rotateSession("old");
  assert.ok(rotated?.expires instanceof Date);
});

test("answers outside the contract throw invalid_response naming the client method", async () => {
  const cases: [unknown, (c: ReturnType<typeof AuthBridgeClient>) => Promise<unknown>][] = [
    [{ notAList: true }, (c) => c.listSessions("u")],
    [[{ id: "s", userId: "u", expires: "soon" }], (c) => c.listSessions("u")],
    [
      [{ id: "s", userId: "u", expires: "2031-05-06T07:08:09.010Z", createdAt: "yesterday" }],
      (c) => c.listSessions("u"),
    ],
    [[{ id: "s", userId: "u", expires: "2031-05-06T07:08:09.010Z", userAgent: 7 }], (c) => c.listSessions("u")],
    [
      [{ id: "s", userId: "u", expires: "2031-05-06T07:08:09.010Z", rotatedAt: "an hour ago" }],
      (c) => c.listSessions("u"),
    ],
    [{ removed: 1 }, (c) => c.revokeAllSessions("u")],
    [{ latestExpires: "never" }, (c) => c.userSessionStats("u")],
    [null, (c) => c.sessionStats()],
  ];
  for (const [answer, call] of cases) {
    const error = await rejection(call(clientWith(recorder(() => answer).fetch)));
    assert.equal(error.code, "invalid_response", JSON.stringify(answer));
  }
  const error = await rejection(clientWith(recorder(() => null).fetch).purgeExpired());
  assert.equal(error.method, "purgeExpired");
});

test("a problem throws an AuthBridgeError with the problem's code, status, field and request id", async () => {
  const problem = {
    type: "https://authbridge.dev/problems/invalid_argument",
    title: "Invalid argument",
    status: 400,
    detail: "invalid `limit`: must be between 1 and 1000",
    code: "invalid_argument",
    field: "limit",
    requestId: "req-400",
  };
  const { fetch } = recorder(
    () =>
      new Response(JSON.stringify(problem), {
        status: 400,
        headers: { "content-type": "application/problem+json", "x-request-id": "req-400" },
      }),
  );
  const error = await rejection(clientWith(fetch).listSessions("u", { limit: 0 }));
  assert.equal(error.code, "invalid_argument");
  assert.equal(error.status, 400);
  assert.equal(error.field, "limit");
  assert.equal(error.requestId, "req-400");
  assert.equal(error.method, "listSessions");
  assert.match(error.message, /listSessions.*invalid_argument.*400.*limit.*req-400/);

  const down = await rejection(AuthBridgeClient({ url: "http://127.0.0.1:9", timeoutMs: 5000 }).sessionStats());
  assert.equal(down.code, "network_error");
  const hanging: typeof globalThis.fetch = (_input, init) =>
    new Promise((_resolve, reject) => {
      init?.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
    });
  const slow = await rejection(clientWith(hanging, { timeoutMs: 20 }).rotateSession(SECRET_TOKEN));
  assert.equal(slow.code, "timeout");
  assert.ok(!slow.message.includes(SECRET_TOKEN));
});

test("invalid client options throw a TypeError at construction, naming AuthBridgeClient", () => {
  for (const options of [
    { url: "not a url" },
    { url: `http://user:${SECRET_KEY}@host` },
    { url: URL_, timeoutMs: -1 },
    { url: URL_, apiKey: "" },
    { url: URL_, fetch: "no" },
  ]) {
    assert.throws(
      () => AuthBridgeClient(options as AuthBridgeClientOptions),
      (error: unknown) =>
        error instanceof TypeError && /^AuthBridgeClient:/.test(error.message) && !error.message.includes(SECRET_KEY),
      JSON.stringify(options),
    );
  }
});

test("rotateSessionIfDue: one rotate call with rotateAfter; rotated is whether the token changed", async () => {
  const expires = "2031-05-06T07:08:09.010Z";
  // The service's three answers: a new token, the token sent (not due, or a previous token inside
  // the grace window), and null (no session, or reuse detected).
  const answers = [
    { id: "s1", userId: "u1", sessionToken: "fresh-token", expires },
    { id: "s1", userId: "u1", sessionToken: SECRET_TOKEN, expires },
    null,
  ];
  const { sent, fetch } = recorder(() => answers[sent.length - 1] ?? null);
  const c = clientWith(fetch);
  const rotated = await c.rotateSessionIfDue(SECRET_TOKEN, {
    rotateAfter: 3600,
    maxAge: 86400,
    context: { ipAddress: "203.0.113.9", userAgent: "" },
  });
  assert.equal(rotated?.rotated, true);
  assert.equal(rotated.session.sessionToken, "fresh-token");
  assert.equal(rotated.session.id, "s1");
  assert.ok(rotated.session.expires instanceof Date);
  const unchanged = await c.rotateSessionIfDue(SECRET_TOKEN, { rotateAfter: 0 });
  assert.equal(unchanged?.rotated, false);
  assert.equal(unchanged.session.sessionToken, SECRET_TOKEN);
  assert.equal(await c.rotateSessionIfDue(SECRET_TOKEN, { rotateAfter: 60 }), null);

  assert.deepEqual(
    sent.map((s) => [s.init.method, new URL(s.url).pathname, s.body]),
    [
      [
        "POST",
        "/base/v1/sessions/rotate",
        { sessionToken: SECRET_TOKEN, maxAge: 86400, context: { ipAddress: "203.0.113.9" }, rotateAfter: 3600 },
      ],
      ["POST", "/base/v1/sessions/rotate", { sessionToken: SECRET_TOKEN, rotateAfter: 0 }],
      ["POST", "/base/v1/sessions/rotate", { sessionToken: SECRET_TOKEN, rotateAfter: 60 }],
    ],
  );
  // rotateSession never sends rotateAfter: it always rotates.
  await c.rotateSession(SECRET_TOKEN);
  assert.deepEqual(sent.at(-1)?.body, { sessionToken: SECRET_TOKEN });
});

test("rotateSessionIfDue: bad input is a TypeError naming the method, and nothing is sent", async () => {
  const { sent, fetch } = recorder();
  const c = clientWith(fetch);
  const cases: [unknown, unknown][] = [
    ["", { rotateAfter: 60 }],
    [undefined, { rotateAfter: 60 }],
    [SECRET_TOKEN, undefined],
    [SECRET_TOKEN, {}],
    [SECRET_TOKEN, { rotateAfter: -1 }],
    [SECRET_TOKEN, { rotateAfter: 1.5 }],
    [SECRET_TOKEN, { rotateAfter: Number.NaN }],
    [SECRET_TOKEN, { rotateAfter: "60" }],
    [SECRET_TOKEN, { rotateAfter: 60, maxAge: -5 }],
    [SECRET_TOKEN, { rotateAfter: 60, maxAge: Infinity }],
    [SECRET_TOKEN, { rotateAfter: 60, context: "203.0.113.9" }],
  ];
  for (const [token, options] of cases) {
    await assert.rejects(
      c.rotateSessionIfDue(token as string, options as { rotateAfter: number }),
      (error: unknown) =>
        error instanceof TypeError &&
        /^AuthBridgeClient\.rotateSessionIfDue: `(sessionToken|options|rotateAfter|maxAge|context)`/.test(
          error.message,
        ) &&
        !error.message.includes(SECRET_TOKEN),
      JSON.stringify([token, options]),
    );
  }
  assert.equal(sent.length, 0);
});

test("adapter context: called for createSession only, sync or async, sent as the top-level context", async () => {
  const session = { id: "s", sessionToken: "t", userId: "u", expires: "2031-05-06T07:08:09.010Z" };
  const { sent, fetch } = recorder(() => session);
  let calls = 0;
  const expires = new Date(session.expires);
  const sync = AuthBridgeAdapter({
    url: URL_,
    fetch,
    context: () => {
      calls += 1;
      return { ipAddress: "198.51.100.7", userAgent: "Mozilla/5.0 (iPhone)" };
    },
  });
  await sync.createSession({ sessionToken: "t", userId: "u", expires });
  await sync.getSessionAndUser("t").catch(() => undefined);
  await sync.updateSession({ sessionToken: "t", expires });
  await sync.deleteSession("t");
  assert.equal(calls, 1, "only createSession asks for the context");
  const async_ = AuthBridgeAdapter({ url: URL_, fetch, context: async () => ({ userAgent: "curl/8.0" }) });
  await async_.createSession({ sessionToken: "t", userId: "u", expires });
  // Empty and null values are not sent; neither is a context nobody asked for.
  await AuthBridgeAdapter({ url: URL_, fetch, context: () => ({ ipAddress: "", userAgent: null }) }).createSession({
    sessionToken: "t",
    userId: "u",
    expires,
  });
  await AuthBridgeAdapter({ url: URL_, fetch, context: () => undefined }).createSession({
    sessionToken: "t",
    userId: "u",
    expires,
  });
  await AuthBridgeAdapter({ url: URL_, fetch }).createSession({ sessionToken: "t", userId: "u", expires });
  const creates = sent.filter((s) => s.url.endsWith("/createSession")).map((s) => s.body);
  const wire = { sessionToken: "t", userId: "u", expires: session.expires };
  assert.deepEqual(creates, [
    { session: wire, context: { ipAddress: "198.51.100.7", userAgent: "Mozilla/5.0 (iPhone)" } },
    { session: wire, context: { userAgent: "curl/8.0" } },
    { session: wire, context: {} },
    { session: wire, context: {} },
    { session: wire },
  ]);
  for (const s of sent.filter((s) => !s.url.endsWith("/createSession"))) {
    assert.ok(!("context" in (s.body as object)), s.url);
  }
});

test("adapter context: a user agent longer than a MySQL String is cut, by code points", async () => {
  const { sent, fetch } = recorder(() => ({
    id: "s",
    sessionToken: "t",
    userId: "u",
    expires: "2031-05-06T07:08:09.010Z",
  }));
  const long = "Mozilla/5.0 " + "😀".repeat(300);
  await AuthBridgeAdapter({ url: URL_, fetch, context: () => ({ userAgent: long }) }).createSession({
    sessionToken: "t",
    userId: "u",
    expires: new Date(),
  });
  const sentAgent = (sent[0]!.body as { context: { userAgent: string } }).context.userAgent;
  assert.equal(Array.from(sentAgent).length, 191);
  assert.ok(long.startsWith(sentAgent));
  assert.ok(!/[\uD800-\uDBFF]$/.test(sentAgent), "no half of a surrogate pair at the end");
});

test("adapter context: a provider that throws fails the call; a non-function is refused at construction", async () => {
  const { sent, fetch } = recorder();
  const adapter = AuthBridgeAdapter({
    url: URL_,
    fetch,
    context: () => {
      throw new Error("headers() was called outside a request scope");
    },
  });
  await assert.rejects(
    adapter.createSession({ sessionToken: "t", userId: "u", expires: new Date() }),
    /outside a request/,
  );
  assert.equal(sent.length, 0);
  assert.throws(
    () => AuthBridgeAdapter({ url: URL_, context: { ipAddress: "1.2.3.4" } as never }),
    /AuthBridgeAdapter: `context` must be a function/,
  );
});

test("the client retries its reads on 503, never its writes", async () => {
  let calls = 0;
  const reads: typeof globalThis.fetch = async () =>
    ++calls === 1
      ? new Response(JSON.stringify({ code: "unavailable", status: 503 }), {
          status: 503,
          headers: { "content-type": "application/problem+json", "retry-after": "0" },
        })
      : new Response("[]", { headers: { "content-type": "application/json" } });
  assert.deepEqual(await clientWith(reads).listSessions("u"), []);
  assert.equal(calls, 2);
  let writes = 0;
  const busy: typeof globalThis.fetch = async () => {
    writes++;
    return new Response(JSON.stringify({ code: "unavailable", status: 503 }), {
      status: 503,
      headers: { "content-type": "application/problem+json", "retry-after": "0" },
    });
  };
  assert.equal((await rejection(clientWith(busy).revokeAllSessions("u"))).status, 503);
  assert.equal(writes, 1);
});
