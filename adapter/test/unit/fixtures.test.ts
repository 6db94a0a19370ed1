// Replays the contract fixtures of ../tests/fixtures (the same files the Rust tests run against the
// real router) through the adapter (adapter routes) and AuthBridgeClient (management routes), with a
// fake fetch playing the service. For every step the package can express, it checks the request it
// sends (route, query, headers, body) against the fixture's request, feeds it the fixture's answer,
// and checks what the package makes of it: real Dates, null, or a thrown AuthBridgeError with code,
// status, field and request id. Placeholders
// follow tests/fixtures/README.md and tests/it/contract.rs.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import {
  AuthBridgeAdapter,
  AuthBridgeClient,
  AuthBridgeError,
  type AuthBridgeAdapterOptions,
  type AuthBridgeClientMethods,
  type AuthBridgeConnectionOptions,
  type SessionContext,
} from "../../src/index.ts";

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "../../../tests/fixtures");
const BASE = "http://authbridge.test:7777/prefix";
const AUTHJS_MAX_AGE = 2_592_000;
const AUTHJS_UPDATE_AGE = 86_400;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface Step {
  name?: string;
  call?: string;
  http?: {
    method?: string;
    path: string;
    contentType?: string | null;
    rawBody?: string;
    headers?: Record<string, string | null>;
  };
  body?: Json;
  status?: number;
  response?: Json;
  problem?: JsonObject;
  headers?: Record<string, string | null>;
  save?: string;
}

interface Fixture {
  description: string;
  config?: { unknownFields?: string; sessionMaxAge?: number; sessionUpdateAge?: number; apiKeys?: string[] };
  steps: Step[];
}

/** What the adapter returns for each method, so the test knows which fields must be Dates. */
type Shape =
  "user" | "session" | "sessionAndUser" | "verificationToken" | "account" | "authenticator" | "authenticators";

interface MethodSpec {
  /** Body keys the adapter can produce for this method. */
  keys: string[];
  /** The adapter arguments that produce `body`. */
  args: (body: JsonObject) => unknown[];
  shape: Shape;
  /** Where an entity object carries dates a caller passes as Date objects. */
  dates?: [entity: string, field: string];
}

const pick = (body: JsonObject, keys: string[]) =>
  Object.fromEntries(keys.filter((k) => k in body).map((k) => [k, body[k]]));

const METHODS: Record<string, MethodSpec> = {
  createUser: { keys: ["user"], args: (b) => [b.user], shape: "user", dates: ["user", "emailVerified"] },
  getUser: { keys: ["id"], args: (b) => [b.id], shape: "user" },
  getUserByEmail: { keys: ["email"], args: (b) => [b.email], shape: "user" },
  getUserByAccount: {
    keys: ["provider", "providerAccountId"],
    args: (b) => [pick(b, ["provider", "providerAccountId"])],
    shape: "user",
  },
  updateUser: { keys: ["user"], args: (b) => [b.user], shape: "user", dates: ["user", "emailVerified"] },
  deleteUser: { keys: ["userId"], args: (b) => [b.userId], shape: "user" },
  linkAccount: { keys: ["account"], args: (b) => [b.account], shape: "account" },
  unlinkAccount: {
    keys: ["provider", "providerAccountId"],
    args: (b) => [pick(b, ["provider", "providerAccountId"])],
    shape: "account",
  },
  createSession: {
    keys: ["session", "context"],
    args: (b) => [b.session],
    shape: "session",
    dates: ["session", "expires"],
  },
  getSessionAndUser: {
    keys: ["sessionToken", "maxAge", "updateAge"],
    args: (b) => [b.sessionToken],
    shape: "sessionAndUser",
  },
  updateSession: { keys: ["session"], args: (b) => [b.session], shape: "session", dates: ["session", "expires"] },
  deleteSession: { keys: ["sessionToken"], args: (b) => [b.sessionToken], shape: "session" },
  createVerificationToken: {
    keys: ["verificationToken"],
    args: (b) => [b.verificationToken],
    shape: "verificationToken",
    dates: ["verificationToken", "expires"],
  },
  useVerificationToken: {
    keys: ["identifier", "token"],
    args: (b) => [pick(b, ["identifier", "token"])],
    shape: "verificationToken",
  },
  getAccount: {
    keys: ["providerAccountId", "provider"],
    args: (b) => [b.providerAccountId, b.provider],
    shape: "account",
  },
  getAuthenticator: { keys: ["credentialID"], args: (b) => [b.credentialID], shape: "authenticator" },
  createAuthenticator: { keys: ["authenticator"], args: (b) => [b.authenticator], shape: "authenticator" },
  listAuthenticatorsByUserId: { keys: ["userId"], args: (b) => [b.userId], shape: "authenticators" },
  updateAuthenticatorCounter: {
    keys: ["credentialID", "counter"],
    args: (b) => [b.credentialID, b.counter],
    shape: "authenticator",
  },
};

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);
const placeholder = (v: Json | undefined) =>
  typeof v === "string" && v.startsWith("{{") && v.endsWith("}}") ? v.slice(2, -2) : undefined;
const WIRE_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

class Run {
  readonly vars: JsonObject = {};
  readonly now = Date.now();
  /** Methods whose answer the fixture leaves unchecked and the fake cannot derive. */
  readonly unspecified: string[] = [];
  constructor(readonly file: string) {}

  /** `now`, `now+3600s`, `now-1s`, `now+30d` → epoch ms. */
  relative(expr: string): number | undefined {
    const m = /^now(?:([+-])(\d+)([sd]))?$/.exec(expr);
    if (!m) return undefined;
    if (!m[1]) return this.now;
    const ms = Number(m[2]) * (m[3] === "d" ? 86_400_000 : 1000);
    return m[1] === "+" ? this.now + ms : this.now - ms;
  }

  resolve(inner: string): Json | undefined {
    const at = this.relative(inner);
    if (at !== undefined) return new Date(at).toISOString();
    const repeat = /^repeat:(\d+):(.*)$/s.exec(inner);
    if (repeat) return repeat[2]!.repeat(Number(repeat[1]));
    const [head, ...path] = inner.split(".");
    let current: Json | undefined = this.vars[head!];
    for (const part of path) {
      if (Array.isArray(current)) current = current[Number(part)];
      else if (isObject(current)) current = current[part];
      else return undefined;
    }
    return current === undefined ? undefined : structuredClone(current);
  }

  /** Request bodies: placeholders become values. */
  substitute(value: Json): Json {
    const inner = placeholder(value);
    if (inner !== undefined) {
      const resolved = this.resolve(inner);
      assert.notEqual(resolved, undefined, `${this.file}: cannot resolve {{${inner}}}`);
      return resolved!;
    }
    if (Array.isArray(value)) return value.map((v) => this.substitute(v));
    if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.substitute(v)]));
    return value;
  }

  /** Answers: matchers become concrete values that satisfy them, as the real service would send. */
  synthesize(value: Json): Json {
    const inner = placeholder(value);
    if (inner !== undefined) {
      if (inner === "any") return "any-value";
      if (inner === "cuid") return "c" + [...randomBytes(24)].map((b) => (b % 36).toString(36)).join("");
      if (inner === "token") return randomBytes(32).toString("hex");
      if (inner === "date") return new Date(this.now).toISOString();
      if (inner.startsWith("date~")) {
        const at = this.relative(inner.slice(5));
        assert.notEqual(at, undefined, `${this.file}: bad matcher ${inner}`);
        return new Date(at!).toISOString();
      }
      return this.substitute(value);
    }
    if (Array.isArray(value)) return value.map((v) => this.synthesize(v));
    if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.synthesize(v)]));
    return value;
  }
}

/** The test's own model of what the adapter must return for a wire value: dates as Date objects. */
function expectedResult(shape: Shape, method: string, wire: Json): unknown {
  if (wire === null) return method === "unlinkAccount" ? undefined : null;
  const toDate = (v: Json | undefined) => (v === null ? null : new Date(v as string));
  const w = wire as JsonObject;
  switch (shape) {
    case "user":
      return { ...w, emailVerified: toDate(w.emailVerified) };
    case "session":
    case "verificationToken":
      return { ...w, expires: toDate(w.expires) };
    case "sessionAndUser":
      return {
        session: expectedResult("session", method, w.session!),
        user: expectedResult("user", method, w.user!),
      };
    case "authenticators":
      return (wire as Json[]).map((a) => ({ ...(a as JsonObject) }));
    default:
      return { ...w };
  }
}

/** Every Date in the expected value must be a real Date in the actual one. */
function assertDates(expected: unknown, actual: unknown, path: string, label: string) {
  if (expected instanceof Date) {
    assert.ok(actual instanceof Date, `${label}: ${path} must be a Date, got ${typeof actual}`);
    assert.equal(actual.getTime(), expected.getTime(), `${label}: ${path}`);
    return;
  }
  if (isObject(expected as Json)) {
    for (const [k, v] of Object.entries(expected as object)) {
      assertDates(v, (actual as Record<string, unknown>)[k], `${path}.${k}`, label);
    }
  }
}

/** Entity dates given as exact wire strings are passed as Date objects, as Auth.js core does. */
function withDates(args: unknown[], spec: MethodSpec): unknown[] {
  if (!spec.dates) return args;
  const [, field] = spec.dates;
  const obj = args[0];
  if (!isObject(obj as Json)) return args;
  const v = (obj as JsonObject)[field];
  // A leap second matches the pattern but is no valid Date: it stays a string.
  if (typeof v === "string" && WIRE_DATE.test(v) && !Number.isNaN(Date.parse(v)) && new Date(v).toISOString() === v) {
    return [{ ...(obj as JsonObject), [field]: new Date(v) }, ...args.slice(1)];
  }
  return args;
}

/**
 * A step may leave its answer unchecked (no `response`, or `{{any}}` in it): for the create methods the service's
 * answer follows from the request (plus a generated id or token), so the fake builds it; for the
 * others it answers `null`, and only the request and the null pass-through are checked.
 */
function derivedAnswer(run: Run, method: string, body: Json): Json {
  const b = isObject(body) ? body : {};
  const iso = (v: Json | undefined) => (typeof v === "string" ? new Date(v).toISOString() : null);
  const arg = (key: string) => (isObject(b[key]) ? (b[key] as JsonObject) : {});
  switch (method) {
    case "createUser": {
      const u = arg("user");
      return {
        id: run.synthesize("{{cuid}}"),
        name: u.name ?? null,
        email: u.email ?? null,
        emailVerified: iso(u.emailVerified),
        image: u.image ?? null,
      };
    }
    case "createSession": {
      const session = arg("session");
      return {
        id: run.synthesize("{{cuid}}"),
        sessionToken: session.sessionToken ?? run.synthesize("{{token}}"),
        userId: session.userId ?? null,
        expires: iso(session.expires),
      };
    }
    case "createVerificationToken": {
      const token = arg("verificationToken");
      return { identifier: token.identifier ?? null, token: token.token ?? null, expires: iso(token.expires) };
    }
    default:
      run.unspecified.push(method);
      return null;
  }
}

interface Captured {
  url: string;
  method: string;
  headers: Headers;
  body: Json | undefined;
  cache: RequestCache | undefined;
}

function fakeFetch(respond: (req: Captured) => Response, captured: Captured[]): typeof fetch {
  return async (input, init) => {
    const req: Captured = {
      url: String(input),
      method: init?.method ?? "GET",
      headers: new Headers(init?.headers),
      body: init?.body === undefined ? undefined : (JSON.parse(String(init.body)) as Json),
      cache: init?.cache,
    };
    captured.push(req);
    return respond(req);
  };
}

/** One fixture step as a call of the adapter or of the management client. */
interface Target {
  /** The method name, as AuthBridgeError#method reports it. */
  method: string;
  /** The request it must send. */
  http: string;
  url: string;
  body: Json | undefined;
  /** False when the fixture's request is not one the package can send: only its answer is checked. */
  exact: boolean;
  /** Calls the package; construction may throw a TypeError (the adapter refuses bad ages). */
  invoke: (options: AuthBridgeConnectionOptions) => Promise<unknown>;
  expected: (wire: Json) => unknown;
  /** When the fixture leaves the answer unchecked: the one the fake then builds. */
  derived: (body: Json) => Json;
}

/** Whether the package sends this context unchanged (it drops other keys and empty values, and cuts long agents). */
function contextSendsAsIs(context: Json): boolean {
  return (
    isObject(context) &&
    Object.entries(context).every(
      ([k, v]) =>
        (k === "ipAddress" || k === "userAgent") &&
        typeof v === "string" &&
        v !== "" &&
        (k === "ipAddress" || [...v].length <= 191),
    )
  );
}

/** A management route of the fixtures as an AuthBridgeClient call, or undefined for other routes. */
function clientTarget(httpMethod: string, path: string, body: Json | undefined): Target | undefined {
  const url = new URL(path, "http://fixture.invalid");
  const query = [...url.searchParams.entries()];
  const keys = query.map(([k]) => k);
  const segments = url.pathname.split("/").slice(1).map(decodeURIComponent);
  const single = (allowed: string[]) => keys.every((k) => allowed.includes(k)) && new Set(keys).size === keys.length;
  const call = (
    method: keyof AuthBridgeClientMethods,
    exact: boolean,
    invoke: (client: AuthBridgeClientMethods) => Promise<unknown>,
    expected: (wire: Json) => unknown,
  ): Target => ({
    method,
    http: httpMethod,
    url: `${BASE}${path}`,
    body,
    exact,
    invoke: async (options) => invoke(AuthBridgeClient(options)),
    expected: (wire) => (wire === null ? null : expected(wire)),
    derived: () => null,
  });
  const [v1, collection, id, leaf, ...rest] = segments;
  if (v1 !== "v1" || rest.length > 0) return undefined;
  const object = isObject(body) ? body : {};
  const bodyKeys = (allowed: string[]) => isObject(body) && Object.keys(body).every((k) => allowed.includes(k));

  if (collection === "users" && id !== undefined && leaf === "sessions" && httpMethod === "GET") {
    const active = url.searchParams.get("active");
    const limit = url.searchParams.get("limit");
    const exact =
      single(["active", "limit"]) &&
      (active === null || active === "true" || active === "false") &&
      (limit === null || /^\d+$/.test(limit));
    const options = exact
      ? {
          ...(active !== null ? { active: active === "true" } : {}),
          ...(limit !== null ? { limit: Number(limit) } : {}),
        }
      : {};
    return call(
      "listSessions",
      exact,
      (c) => c.listSessions(id, options),
      (w) => (w as Json[]).map(sessionInfo),
    );
  }
  if (collection === "users" && id !== undefined && leaf === "sessions" && httpMethod === "DELETE") {
    const except = url.searchParams.get("except");
    if (except === null) return call("revokeAllSessions", single([]), (c) => c.revokeAllSessions(id), deleted);
    return call("revokeOtherSessions", single(["except"]), (c) => c.revokeOtherSessions(id, except), deleted);
  }
  if (collection === "users" && id !== undefined && leaf === "session-stats" && httpMethod === "GET") {
    return call(
      "userSessionStats",
      single([]),
      (c) => c.userSessionStats(id),
      (w) => {
        const stats = w as JsonObject;
        return {
          ...stats,
          latestExpires: stats.latestExpires === null ? null : new Date(stats.latestExpires as string),
        };
      },
    );
  }
  if (collection === "sessions" && id !== undefined && leaf === undefined && httpMethod === "DELETE") {
    return call("revokeSession", single([]), (c) => c.revokeSession(id), sessionInfo);
  }
  if (collection === "stats" && id === "sessions" && leaf === undefined && httpMethod === "GET") {
    return call(
      "sessionStats",
      single([]),
      (c) => c.sessionStats(),
      (w) => ({ ...(w as JsonObject) }),
    );
  }
  if (collection === "maintenance" && id === "purge-expired" && leaf === undefined && httpMethod === "POST") {
    const batchSize = object.batchSize as number | undefined;
    return call(
      "purgeExpired",
      single([]) && bodyKeys(["batchSize"]),
      (c) => c.purgeExpired(batchSize === undefined ? {} : { batchSize }),
      (w) => ({ ...(w as JsonObject) }),
    );
  }
  if (collection === "sessions" && id === "rotate" && leaf === undefined && httpMethod === "POST") {
    const { sessionToken, maxAge, context, rotateAfter } = object as {
      sessionToken: string;
      maxAge?: number;
      context?: object;
      rotateAfter?: number;
    };
    const expressible =
      single([]) &&
      bodyKeys(["sessionToken", "maxAge", "context", "rotateAfter"]) &&
      (context === undefined || contextSendsAsIs(context as Json));
    const options = { ...(maxAge !== undefined ? { maxAge } : {}), ...(context ? { context } : {}) };
    const session = (w: Json) => ({ ...(w as JsonObject), expires: new Date((w as JsonObject).expires as string) });
    // With rotateAfter it is rotateSessionIfDue, which also says whether the token changed.
    return rotateAfter === undefined
      ? call("rotateSession", expressible, (c) => c.rotateSession(sessionToken, options), session)
      : call(
          "rotateSessionIfDue",
          expressible,
          (c) => c.rotateSessionIfDue(sessionToken, { ...options, rotateAfter }),
          (w) =>
            w === null ? null : { session: session(w), rotated: (w as JsonObject).sessionToken !== sessionToken },
        );
  }
  return undefined;
}

/** What the client must make of a wire SessionInfo: Dates, and null for metadata the answer lacks. */
function sessionInfo(wire: Json): unknown {
  const w = wire as JsonObject;
  const at = (v: Json | undefined) => (v === null || v === undefined ? null : new Date(v as string));
  return {
    ...w,
    expires: new Date(w.expires as string),
    createdAt: at(w.createdAt),
    updatedAt: at(w.updatedAt),
    ipAddress: w.ipAddress ?? null,
    userAgent: w.userAgent ?? null,
    rotatedAt: at(w.rotatedAt),
  };
}

const deleted = (wire: Json) => (wire as JsonObject).deleted;

interface Outcome {
  exact: number;
  responseOnly: string[];
  construction: string[];
  skipped: string[];
  unspecified: string[];
}

async function runFixture(file: string): Promise<Outcome> {
  const fixture = JSON.parse(readFileSync(join(FIXTURES, file), "utf8")) as Fixture;
  const run = new Run(file);
  const cfgMaxAge = fixture.config?.sessionMaxAge ?? AUTHJS_MAX_AGE;
  const cfgUpdateAge = fixture.config?.sessionUpdateAge ?? AUTHJS_UPDATE_AGE;
  const fixtureKey = fixture.config?.apiKeys?.[0];
  const outcome: Outcome = { exact: 0, responseOnly: [], construction: [], skipped: [], unspecified: [] };

  for (const [index, step] of fixture.steps.entries()) {
    const label = `${file} step ${index} (${step.name ?? step.call ?? step.http?.path})`;
    const status = step.status ?? 200;
    const http = step.http;
    const httpMethod = http?.method ?? "POST";
    const rawBody = step.body === undefined ? undefined : run.substitute(step.body);

    let target: Target | undefined;
    const methodName = step.call ?? /^\/v1\/adapter\/([A-Za-z]+)$/.exec(http?.path ?? "")?.[1];
    const spec = methodName !== undefined ? METHODS[methodName] : undefined;
    if (spec && (httpMethod === "POST" || status >= 300)) {
      const body = rawBody ?? {};
      let expressible = isObject(body) && Object.keys(body).every((k) => spec.keys.includes(k));
      // getSessionAndUser always sends both ages; a request without them means the server's configured
      // values (updateAge clamped to maxAge), so the equivalent adapter is configured with those.
      let expectedBody: Json = body;
      const ages: Partial<AuthBridgeAdapterOptions> = {};
      if (methodName === "getSessionAndUser" && isObject(body)) {
        const maxAge = (body.maxAge ?? cfgMaxAge) as number;
        const updateAge = (body.updateAge ?? Math.min(cfgUpdateAge, maxAge)) as number;
        Object.assign(ages, { maxAge, updateAge });
        expectedBody = { ...body, maxAge, updateAge };
      }
      const args = withDates(spec.args(isObject(body) ? body : {}), spec);
      // The adapter sends a context its `context` option returns, as it sends it (see contextSendsAsIs).
      const context = isObject(body) && "context" in body ? body.context : undefined;
      if (context !== undefined && !contextSendsAsIs(context)) expressible = false;
      target = {
        method: methodName!,
        http: "POST",
        url: `${BASE}/v1/adapter/${methodName}`,
        body: expectedBody,
        exact: expressible && httpMethod === "POST",
        invoke: (options) => {
          const adapter = AuthBridgeAdapter({
            ...options,
            ...ages,
            ...(context !== undefined ? { context: () => context as SessionContext } : {}),
          });
          const method = adapter[methodName as keyof typeof adapter] as (...a: unknown[]) => Promise<unknown>;
          return method(...args);
        },
        expected: (wire) => expectedResult(spec.shape, methodName!, wire),
        derived: (b) => derivedAnswer(run, methodName!, b),
      };
    } else if (http) {
      const path = http.path.replace(/\{\{([^}]+)\}\}/g, (_, inner: string) => String(run.resolve(inner)));
      target = clientTarget(httpMethod, path, rawBody);
    }
    if (!target) {
      // Neither an adapter nor a management route (health checks, unknown paths and methods).
      outcome.skipped.push(label);
      if (step.save) run.vars[step.save] = run.synthesize(step.response ?? null);
      continue;
    }

    // The request headers the fixture sends, as options.
    let apiKey = fixtureKey;
    let headersExact = true;
    const extraHeaders: Record<string, string> = {};
    for (const [name, value] of Object.entries(http?.headers ?? {})) {
      if (name.toLowerCase() === "authorization") {
        if (value === null) apiKey = undefined;
        else if (value.startsWith("Bearer ")) apiKey = value.slice("Bearer ".length);
        else headersExact = false;
      } else if (value !== null) {
        extraHeaders[name] = value;
      }
    }
    const exact = target.exact && headersExact && http?.rawBody === undefined && http?.contentType === undefined;

    const options: AuthBridgeConnectionOptions = { url: BASE, headers: extraHeaders };
    if (apiKey !== undefined) options.apiKey = apiKey;
    const captured: Captured[] = [];
    let wire: Json = null;
    let requestId = "";
    const unspecifiedBefore = run.unspecified.length;
    options.fetch = fakeFetch((req) => {
      requestId = (step.problem?.requestId as string | undefined) ?? req.headers.get("x-request-id") ?? "srv-generated";
      const headers = new Headers({ "x-request-id": requestId });
      for (const [name, value] of Object.entries(step.headers ?? {})) if (value !== null) headers.set(name, value);
      if (step.problem) {
        const problem = run.synthesize(step.problem) as JsonObject;
        const code = problem.code as string;
        headers.set("content-type", "application/problem+json");
        const doc = {
          type: `https://authbridge.dev/problems/${code}`,
          title: code.replace(/_/g, " "),
          status,
          detail: `fixture problem ${code}`,
          ...problem,
          requestId,
        };
        return new Response(JSON.stringify(doc), { status, headers });
      }
      // `{{any}}` leaves (part of) the answer unchecked, like a missing `response`.
      const checked = "response" in step && !JSON.stringify(step.response).includes('"{{any}}"');
      wire = checked ? run.synthesize(step.response!) : target.derived(rawBody ?? {});
      // (The adapter's derivation records this itself; the client's has nothing to derive.)
      if (!checked && wire === null && run.unspecified.length === unspecifiedBefore)
        run.unspecified.push(target.method);
      headers.set("content-type", "application/json");
      return new Response(JSON.stringify(wire), { status, headers });
    }, captured);

    let result: unknown;
    let thrown: unknown;
    try {
      result = await target.invoke(options);
    } catch (error) {
      thrown = error;
    }
    if (thrown instanceof TypeError && captured.length === 0) {
      // The adapter refuses these ages when it is configured, and rotateSessionIfDue its arguments,
      // before any request: the service would have answered 400 naming the same field.
      assert.equal(status, 400, `${label}: the package refused options the service accepts (${String(thrown)})`);
      assert.match(
        String(step.problem?.field),
        /^(maxAge|updateAge|rotateAfter|sessionToken)$/,
        `${label}: refused field`,
      );
      outcome.construction.push(label);
      continue;
    }

    assert.equal(captured.length, 1, `${label}: exactly one request`);
    const req = captured[0]!;
    assert.equal(req.method, target.http, `${label}: method`);
    assert.equal(req.cache, "no-store", `${label}: never cached`);
    assert.equal(
      req.headers.get("content-type"),
      target.http === "POST" ? "application/json" : null,
      `${label}: content type`,
    );
    if (exact) {
      const sent = new URL(req.url);
      const want = new URL(target.url);
      assert.equal(sent.origin + sent.pathname, want.origin + want.pathname, `${label}: URL`);
      assert.deepEqual([...sent.searchParams].sort(), [...want.searchParams].sort(), `${label}: query`);
      assert.deepEqual(req.body, target.body ?? (target.http === "POST" ? {} : undefined), `${label}: request body`);
      assert.equal(req.headers.get("authorization"), apiKey === undefined ? null : `Bearer ${apiKey}`, `${label}: key`);
      for (const [name, value] of Object.entries(extraHeaders)) assert.equal(req.headers.get(name), value, label);
      outcome.exact += 1;
    } else {
      assert.equal(new URL(req.url).pathname, new URL(target.url).pathname, `${label}: URL`);
      outcome.responseOnly.push(label);
    }

    if (run.unspecified.length > unspecifiedBefore) outcome.unspecified.push(label);
    if (status >= 200 && status < 300) {
      assert.equal(thrown, undefined, `${label}: unexpected throw ${String(thrown)}`);
      const expected = target.expected(wire);
      assert.deepEqual(result, expected, `${label}: result`);
      assertDates(expected, result, "$", label);
      if (step.save) run.vars[step.save] = wire;
    } else {
      assert.ok(
        thrown instanceof AuthBridgeError,
        `${label}: a ${status} must throw an AuthBridgeError, got ${String(result)}`,
      );
      assert.equal(thrown.status, status, `${label}: status`);
      assert.equal(thrown.code, step.problem!.code, `${label}: code`);
      assert.equal(thrown.requestId, requestId, `${label}: request id`);
      assert.equal(thrown.method, target.method, `${label}: method`);
      assert.equal(thrown.field, step.problem!.field, `${label}: field`);
      assert.ok(thrown.message.includes(requestId) && thrown.message.includes(String(status)), `${label}: message`);
      if (step.save) run.vars[step.save] = null;
    }
  }
  return outcome;
}

const files = readdirSync(FIXTURES)
  .filter((f) => f.endsWith(".json"))
  .sort();

test("every fixture file is replayed", () => {
  assert.ok(files.length >= 10, `found ${files.length} fixture files in ${FIXTURES}`);
});

const totals = { exact: 0, responseOnly: 0, construction: 0, skipped: 0, unspecified: 0 };
for (const file of files) {
  test(`fixture ${file}`, async (t) => {
    const outcome = await runFixture(file);
    totals.exact += outcome.exact;
    totals.responseOnly += outcome.responseOnly.length;
    totals.construction += outcome.construction.length;
    totals.skipped += outcome.skipped.length;
    totals.unspecified += outcome.unspecified.length;
    assert.ok(outcome.exact > 0, `${file}: no step could be replayed exactly`);
    for (const label of outcome.responseOnly)
      t.diagnostic(`answer only (request not expressible through the package): ${label}`);
    for (const label of outcome.construction) t.diagnostic(`refused at construction (adapter options): ${label}`);
    for (const label of outcome.skipped) t.diagnostic(`skipped (neither an adapter nor a management call): ${label}`);
    for (const label of outcome.unspecified) t.diagnostic(`answer unchecked by the fixture (null replayed): ${label}`);
  });
}

test("replay totals", (t) => {
  t.diagnostic(
    `steps replayed exactly: ${totals.exact}, answer only: ${totals.responseOnly}, ` +
      `refused at construction: ${totals.construction}, skipped: ${totals.skipped}, ` +
      `answer unchecked by the fixture: ${totals.unspecified}`,
  );
  assert.ok(totals.exact > 200, `only ${totals.exact} steps replayed exactly`);
});
