// Behaviour of the adapter that the contract fixtures do not reach: its shape, its options, and
// what it does when the service cannot be reached or answers something that is not the contract.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { AuthBridgeAdapter, type AuthBridgeAdapterOptions } from "../../src/index.ts";
import { rejection } from "../assertions.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
const URL_ = "http://authbridge.test:7777";
const SECRET_TOKEN = "secret-session-token-3f9a";
const SECRET_KEY = "secret-api-key-77b1";

const METHODS = [
  "createUser",
  "getUser",
  "getUserByEmail",
  "getUserByAccount",
  "updateUser",
  "deleteUser",
  "linkAccount",
  "unlinkAccount",
  "createSession",
  "getSessionAndUser",
  "updateSession",
  "deleteSession",
  "createVerificationToken",
  "useVerificationToken",
  "getAccount",
  "getAuthenticator",
  "createAuthenticator",
  "listAuthenticatorsByUserId",
  "updateAuthenticatorCounter",
];

interface Sent {
  url: string;
  init: RequestInit;
  body: Record<string, unknown>;
}

function recorder(answer: (sent: Sent) => Response | Promise<Response> = () => json(null)) {
  const sent: Sent[] = [];
  const fetch: typeof globalThis.fetch = async (input, init = {}) => {
    const s = { url: String(input), init, body: JSON.parse(String(init.body)) as Record<string, unknown> };
    sent.push(s);
    return answer(s);
  };
  return { sent, fetch };
}

function json(value: unknown, status = 200, headers: Record<string, string> = {}) {
  return new Response(JSON.stringify(value), { status, headers: { "content-type": "application/json", ...headers } });
}

function adapterWith(fetch: typeof globalThis.fetch, extra: Partial<AuthBridgeAdapterOptions> = {}) {
  return AuthBridgeAdapter({ url: URL_, apiKey: SECRET_KEY, fetch, ...extra });
}

test("the adapter is a plain object whose own enumerable keys are the 19 methods", () => {
  const adapter = AuthBridgeAdapter({ url: URL_ });
  assert.equal(Object.getPrototypeOf(adapter), Object.prototype);
  assert.deepEqual(Object.keys(adapter).sort(), [...METHODS].sort());
  for (const key of Object.keys(adapter)) assert.equal(typeof adapter[key as keyof typeof adapter], "function", key);
  // What Auth.js core does to it: a copy made from Object.keys keeps every method.
  const wrapped = Object.fromEntries(Object.keys(adapter).map((k) => [k, adapter[k as keyof typeof adapter]]));
  assert.equal(Object.keys(wrapped).length, 19);
});

test("every method is one POST to /v1/adapter/{method}; tokens, emails and keys never appear in the URL", async () => {
  const { sent, fetch } = recorder();
  const a = adapterWith(fetch, { url: `${URL_}/base/` });
  const date = new Date("2030-01-02T03:04:05.678Z");
  // The recorder answers null, which methods that must return a row reject: only the requests matter here.
  await a.createUser({ id: "x", email: "secret@example.com", emailVerified: date }).catch(() => undefined);
  await a.getUser("u1");
  await a.getUserByEmail("secret@example.com");
  await a.getUserByAccount({ provider: "github", providerAccountId: "42" });
  await a.updateUser({ id: "u1", name: "N" }).catch(() => undefined);
  await a.deleteUser("u1");
  await a
    .linkAccount({
      userId: "u1",
      type: "oauth",
      provider: "github",
      providerAccountId: "42",
      access_token: SECRET_TOKEN,
    })
    .catch(() => undefined);
  await a.unlinkAccount({ provider: "github", providerAccountId: "42" });
  await a.createSession({ sessionToken: SECRET_TOKEN, userId: "u1", expires: date }).catch(() => undefined);
  await a.getSessionAndUser(SECRET_TOKEN);
  await a.updateSession({ sessionToken: SECRET_TOKEN, expires: date });
  await a.deleteSession(SECRET_TOKEN);
  await a
    .createVerificationToken({ identifier: "secret@example.com", token: SECRET_TOKEN, expires: date })
    .catch(() => undefined);
  await a.useVerificationToken({ identifier: "secret@example.com", token: SECRET_TOKEN });
  await a.getAccount("42", "github");
  await a.getAuthenticator("cred");
  await a
    .createAuthenticator({
      credentialID: "cred",
      userId: "u1",
      providerAccountId: "cred",
      credentialPublicKey: "pk",
      counter: 0,
      credentialDeviceType: "singleDevice",
      credentialBackedUp: false,
      transports: null,
    })
    .catch(() => undefined);
  await a.listAuthenticatorsByUserId("u1").catch(() => undefined);
  await a.updateAuthenticatorCounter("cred", 5).catch(() => undefined);

  assert.deepEqual(
    sent.map((s) => s.url),
    METHODS.map((m) => `${URL_}/base/v1/adapter/${m}`),
  );
  for (const s of sent) {
    assert.equal(s.init.method, "POST");
    assert.ok(!s.url.includes("secret"), s.url);
    const headers = new Headers(s.init.headers);
    assert.equal(headers.get("authorization"), `Bearer ${SECRET_KEY}`);
    assert.equal(headers.get("content-type"), "application/json");
    assert.match(headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
  }
  // Dates go out in the wire form; getSessionAndUser carries the Auth.js default ages.
  assert.deepEqual(sent[0]!.body, {
    user: { id: "x", email: "secret@example.com", emailVerified: "2030-01-02T03:04:05.678Z" },
  });
  assert.deepEqual(sent[9]!.body, { sessionToken: SECRET_TOKEN, maxAge: 2_592_000, updateAge: 86_400 });
  assert.deepEqual(sent[18]!.body, { credentialID: "cred", counter: 5 });
  // Only the named arguments travel: core's objects may carry more than the route accepts.
  assert.deepEqual(sent[3]!.body, { provider: "github", providerAccountId: "42" });
});

test("getSessionAndUser sends the configured ages; updateAge defaults to at most maxAge", async () => {
  const { sent, fetch } = recorder();
  await adapterWith(fetch, { maxAge: 3600, updateAge: 60 }).getSessionAndUser("t");
  await adapterWith(fetch, { maxAge: 600 }).getSessionAndUser("t");
  await adapterWith(fetch, { updateAge: 0 }).getSessionAndUser("t");
  assert.deepEqual(
    sent.map((s) => [s.body.maxAge, s.body.updateAge]),
    [
      [3600, 60],
      [600, 600],
      [2_592_000, 0],
    ],
  );
});

test("null answers stay null (unlinkAccount: undefined, as Auth.js types it); dates are revived", async () => {
  const { fetch } = recorder(() => json(null));
  const a = adapterWith(fetch);
  assert.equal(await a.getSessionAndUser("t"), null);
  assert.equal(await a.getUser("u"), null);
  assert.equal(await a.unlinkAccount({ provider: "p", providerAccountId: "1" }), undefined);

  const session = { id: "s", sessionToken: "t", userId: "u", expires: "2031-05-06T07:08:09.010Z" };
  const user = { id: "u", name: null, email: "e@example.com", emailVerified: "2030-01-01T00:00:00.000Z", image: null };
  const b = adapterWith(recorder(() => json({ session, user })).fetch);
  const got = await b.getSessionAndUser("t");
  assert.ok(got?.session.expires instanceof Date, "session.expires is a Date");
  assert.ok(got.user.emailVerified instanceof Date, "user.emailVerified is a Date");
  assert.equal(got.session.expires.valueOf(), Date.parse(session.expires));
  assert.equal(got.user.emailVerified.toISOString(), user.emailVerified);
});

test("a problem answer throws an AuthBridgeError with code, status, field and request id, and no secrets", async () => {
  const problem = {
    type: "https://authbridge.dev/problems/unavailable",
    title: "Service unavailable",
    status: 503,
    detail: "the database did not answer",
    code: "unavailable",
    requestId: "req-503",
  };
  const { fetch } = recorder(() =>
    json(problem, 503, { "content-type": "application/problem+json", "x-request-id": "req-503", "retry-after": "2" }),
  );
  const error = await rejection(adapterWith(fetch).getSessionAndUser(SECRET_TOKEN));
  assert.equal(error.code, "unavailable");
  assert.equal(error.status, 503);
  assert.equal(error.requestId, "req-503");
  assert.equal(error.retryAfter, 2);
  assert.equal(error.method, "getSessionAndUser");
  assert.match(error.message, /getSessionAndUser.*unavailable.*503.*the database did not answer.*req-503/);
  assert.ok(!error.message.includes(SECRET_TOKEN) && !error.message.includes(SECRET_KEY), error.message);
  assert.ok(!JSON.stringify(error).includes(SECRET_TOKEN), "no token in the serialized error");
});

test("a network failure throws (never null), with the request id the adapter sent", async () => {
  let sentId: string | null = null;
  const fetch: typeof globalThis.fetch = async (_input, init) => {
    sentId = new Headers(init?.headers).get("x-request-id");
    throw new TypeError("fetch failed");
  };
  const a = adapterWith(fetch);
  for (const call of [
    () => a.getSessionAndUser(SECRET_TOKEN),
    () => a.getUserByEmail("x@example.com"),
    () => a.getUserByAccount({ provider: "p", providerAccountId: "1" }),
  ]) {
    const error = await rejection(call());
    assert.equal(error.code, "network_error");
    assert.equal(error.status, 0);
    assert.ok(sentId, "a request id was sent");
    assert.equal(error.requestId, sentId);
    assert.ok(error.cause instanceof TypeError, "the cause is kept");
  }
});

test("a real connection refused throws network_error", async () => {
  // Port 9 (discard) on loopback: nothing listens there on a test machine.
  const a = AuthBridgeAdapter({ url: "http://127.0.0.1:9", timeoutMs: 5000 });
  const error = await rejection(a.getSessionAndUser("t"));
  assert.equal(error.code, "network_error");
});

test("a request that outlives timeoutMs is aborted and throws timeout", async () => {
  const fetch: typeof globalThis.fetch = (_input, init) =>
    new Promise((_resolve, reject) => {
      init?.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
    });
  const error = await rejection(adapterWith(fetch, { timeoutMs: 20 }).getSessionAndUser("t"));
  assert.equal(error.code, "timeout");
});

test("answers outside the contract throw invalid_response or unavailable, without quoting the body", async () => {
  const page = "<html>upstream secret-session-token-3f9a</html>";
  const html = (status: number) => () => new Response(page, { status, headers: { "content-type": "text/html" } });
  let error = await rejection(adapterWith(recorder(html(502)).fetch).getUser("u"));
  assert.equal(error.code, "unavailable");
  assert.equal(error.status, 502);
  assert.ok(!error.message.includes("upstream"), error.message);
  error = await rejection(adapterWith(recorder(html(500)).fetch).getUser("u"));
  assert.equal(error.code, "invalid_response");
  error = await rejection(adapterWith(recorder(html(200)).fetch).getUser("u"));
  assert.equal(error.code, "invalid_response");
  error = await rejection(
    adapterWith(recorder(() => json({ sessionToken: "t", userId: "u", expires: "soon" })).fetch).deleteSession("t"),
  );
  assert.equal(error.code, "invalid_response", "an unparsable date is not passed on as a string");
  error = await rejection(
    adapterWith(recorder(() => json({ session: null, user: null })).fetch).getSessionAndUser("t"),
  );
  assert.equal(error.code, "invalid_response");
  error = await rejection(adapterWith(recorder(() => json({ notAList: true })).fetch).listAuthenticatorsByUserId("u"));
  assert.equal(error.code, "invalid_response");
});

test("options: extra headers are sent, a caller's X-Request-Id is kept, apiKey wins over an authorization header", async () => {
  const { sent, fetch } = recorder();
  await adapterWith(fetch, {
    headers: { "x-request-id": "mine", authorization: "Bearer other", "x-tenant": "t1" },
  }).getUser("u");
  const headers = new Headers(sent[0]!.init.headers);
  assert.equal(headers.get("x-request-id"), "mine");
  assert.equal(headers.get("x-tenant"), "t1");
  assert.equal(headers.get("authorization"), `Bearer ${SECRET_KEY}`);
  assert.equal(sent[0]!.init.cache, "no-store");
  const { sent: noKey, fetch: f2 } = recorder();
  await AuthBridgeAdapter({ url: URL_, fetch: f2 }).getUser("u");
  assert.equal(new Headers(noKey[0]!.init.headers).get("authorization"), null);
});

test("without a fetch option the global fetch is used, looked up at call time", async () => {
  const original = globalThis.fetch;
  const { sent, fetch } = recorder(() => json(null));
  const a = AuthBridgeAdapter({ url: URL_ });
  globalThis.fetch = fetch;
  try {
    assert.equal(await a.getUser("u"), null);
  } finally {
    globalThis.fetch = original;
  }
  assert.equal(sent.length, 1);
});

test("invalid options throw a TypeError at construction, without echoing the key", () => {
  const bad: Array<Partial<AuthBridgeAdapterOptions>> = [
    { url: "not a url" },
    { url: "ftp://host" },
    { url: `http://user:${SECRET_KEY}@host` },
    { url: "http://host/?key=x" },
    { url: URL_, maxAge: -1 },
    { url: URL_, maxAge: 1.5 },
    { url: URL_, updateAge: Number.NaN },
    { url: URL_, maxAge: 60, updateAge: 61 },
    { url: URL_, timeoutMs: -5 },
    { url: URL_, apiKey: "" },
  ];
  for (const options of bad) {
    assert.throws(
      () => AuthBridgeAdapter(options as AuthBridgeAdapterOptions),
      (error: unknown) => error instanceof TypeError && !String(error).includes(SECRET_KEY),
      JSON.stringify(options),
    );
  }
});

test("the source imports nothing: no Node-only module can reach an Edge or Workers bundle", () => {
  for (const file of [join(HERE, "../../src/index.ts"), join(HERE, "../../dist/index.js")]) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue; // dist/ exists only after `npm run build`; CI builds before testing.
    }
    assert.doesNotMatch(text, /^\s*import\s[^(]|\brequire\(|\bimport\(|\bprocess\.|\bBuffer\b/m, file);
  }
});

test("the package name resolves through the exports map to the built module", async (t) => {
  let module: Record<string, unknown>;
  try {
    module = (await import("authbridge-adapter")) as Record<string, unknown>;
  } catch (error) {
    if (!String(error).includes("dist")) throw error;
    t.skip("dist/ is missing: run `npm run build` first");
    return;
  }
  assert.deepEqual(Object.keys(module).sort(), ["AuthBridgeAdapter", "AuthBridgeClient", "AuthBridgeError"]);
  const adapter = (module.AuthBridgeAdapter as typeof AuthBridgeAdapter)({ url: URL_ });
  assert.equal(Object.keys(adapter).length, 19);
});

const unavailable = (retryAfter: string) =>
  json({ code: "unavailable", status: 503, detail: "at capacity" }, 503, {
    "content-type": "application/problem+json",
    "retry-after": retryAfter,
  });

test("reads are retried on 503, honouring Retry-After, until an answer", async () => {
  let calls = 0;
  const { sent, fetch } = recorder(() => (++calls <= 2 ? unavailable("0") : json(null)));
  assert.equal(await adapterWith(fetch).getSessionAndUser(SECRET_TOKEN), null);
  assert.equal(sent.length, 3);
});

test("reads are retried on a refused or reset connection, not on other network failures", async () => {
  for (const code of ["ECONNREFUSED", "ECONNRESET", "UND_ERR_SOCKET"]) {
    let calls = 0;
    const fetch: typeof globalThis.fetch = async () => {
      if (++calls === 1) throw new TypeError("fetch failed", { cause: Object.assign(new Error(code), { code }) });
      return json(null);
    };
    assert.equal(await adapterWith(fetch).getUser("u1"), null, code);
    assert.equal(calls, 2, code);
  }
  let calls = 0;
  const tls: typeof globalThis.fetch = async () => {
    calls++;
    throw new TypeError("fetch failed", { cause: Object.assign(new Error("bad cert"), { code: "CERT_HAS_EXPIRED" }) });
  };
  assert.equal((await rejection(adapterWith(tls).getUser("u1"))).code, "network_error");
  assert.equal(calls, 1, "a certificate error is not retried");
});

test("writes are never retried", async () => {
  const { sent, fetch } = recorder(() => unavailable("0"));
  const a = adapterWith(fetch);
  assert.equal((await rejection(a.createSession({ sessionToken: "t", userId: "u", expires: new Date() }))).status, 503);
  assert.equal((await rejection(a.deleteSession("t"))).status, 503);
  assert.equal((await rejection(a.updateUser({ id: "u", name: "n" }))).status, 503);
  assert.equal(sent.length, 3);
});

test("retry: attempts 0 or budgetMs 0 disables retries; a wait past the budget is not made", async () => {
  for (const retry of [{ attempts: 0 }, { budgetMs: 0 }, { budgetMs: 500 }]) {
    // Retry-After 1 s: past a 500 ms budget.
    const { sent, fetch } = recorder(() => unavailable("1"));
    const error = await rejection(adapterWith(fetch, { retry }).getUserByEmail("x@example.com"));
    assert.equal(error.status, 503, JSON.stringify(retry));
    assert.equal(sent.length, 1, JSON.stringify(retry));
  }
  const { sent, fetch } = recorder(() => unavailable("0"));
  await rejection(adapterWith(fetch, { retry: { attempts: 2 } }).getAccount("1", "github"));
  assert.equal(sent.length, 3, "the first attempt and 2 retries");
  assert.throws(() => adapterWith(fetch, { retry: { attempts: -1 } }), TypeError);
});
