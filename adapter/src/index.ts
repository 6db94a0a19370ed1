/**
 * authbridge-adapter: an Auth.js (v5, `@auth/core`) and next-auth v4 database adapter that keeps no
 * database driver on the application side. Every method is one `POST /v1/adapter/{method}` to an
 * authbridge service; only `fetch` is used, so it runs wherever `fetch` does (Node, the Next.js Edge
 * runtime and middleware, Cloudflare Workers, Bun, Deno).
 */

/** Options of {@link AuthBridgeAdapter}. */
export interface AuthBridgeAdapterOptions {
  /** Base URL of the authbridge service, e.g. `http://authbridge.internal:7777`. A path prefix is kept. */
  url: string | URL;
  /** Sent as `Authorization: Bearer <apiKey>`. Required unless the service runs without keys. */
  apiKey?: string;
  /**
   * Session lifetime in seconds, as Auth.js `session.maxAge` (default 30 days). Sent with every
   * `getSessionAndUser` so the service slides the expiry in the same round trip.
   */
  maxAge?: number;
  /** As Auth.js `session.updateAge` (default 24 hours): how often the expiry is pushed forward. */
  updateAge?: number;
  /** A `fetch` to use instead of the global one (tests, tracing, custom agents). */
  fetch?: typeof globalThis.fetch;
  /** Extra headers sent with every request. `apiKey` wins over an `authorization` header given here. */
  headers?: RequestInit["headers"];
  /** Abort a request that takes longer than this (milliseconds, default 10000; 0 = never). */
  timeoutMs?: number;
}

export type AdapterAccountType = "oauth" | "oidc" | "email" | "webauthn";

/** A user as authbridge returns it. `emailVerified` is a real `Date`. */
export interface AdapterUser {
  id: string;
  name?: string | null;
  /** Typed as Auth.js types it; a user created without an email comes back with `null`. */
  email: string;
  emailVerified: Date | null;
  image?: string | null;
}

/** The fields a caller may send for a user (Auth.js core also sends an `id`, which the service ignores). */
export interface AdapterUserInput {
  id?: string;
  name?: string | null;
  email?: string | null;
  emailVerified?: Date | string | null;
  image?: string | null;
}

/**
 * An account as authbridge returns it. Token columns that are empty come back as `null`. A type
 * alias, not an interface, so that it fits Auth.js's index-signed `Account`.
 */
export type AdapterAccount = {
  id?: string;
  userId: string;
  type: AdapterAccountType;
  provider: string;
  providerAccountId: string;
  refresh_token?: string;
  access_token?: string;
  expires_at?: number;
  token_type?: Lowercase<string>;
  scope?: string;
  id_token?: string;
  session_state?: string;
};

export interface AdapterSession {
  id?: string;
  sessionToken: string;
  userId: string;
  /** A real `Date`: Auth.js core compares `expires.valueOf()` with `Date.now()`. */
  expires: Date;
}

export interface VerificationToken {
  identifier: string;
  token: string;
  expires: Date;
}

export interface AdapterAuthenticator {
  credentialID: string;
  userId: string;
  providerAccountId: string;
  credentialPublicKey: string;
  counter: number;
  credentialDeviceType: string;
  credentialBackedUp: boolean;
  transports?: string | null;
}

interface ProviderAccountId {
  provider: string;
  providerAccountId: string;
}

/**
 * The adapter: a plain object whose own enumerable properties are the 19 methods, because Auth.js
 * core wraps the adapter with `Object.keys(adapter)` (methods of a class prototype would be lost).
 */
export interface AuthBridgeAdapterMethods {
  createUser(user: AdapterUserInput): Promise<AdapterUser>;
  getUser(id: string): Promise<AdapterUser | null>;
  getUserByEmail(email: string): Promise<AdapterUser | null>;
  getUserByAccount(account: ProviderAccountId): Promise<AdapterUser | null>;
  updateUser(user: AdapterUserInput & { id: string }): Promise<AdapterUser>;
  deleteUser(userId: string): Promise<AdapterUser | null>;
  linkAccount(account: AdapterAccount): Promise<AdapterAccount>;
  /** The deleted account, or `undefined` when there was none (Auth.js types this method without `null`). */
  unlinkAccount(account: ProviderAccountId): Promise<AdapterAccount | undefined>;
  createSession(session: {
    sessionToken?: string | null;
    userId: string;
    expires: Date | string;
  }): Promise<AdapterSession>;
  getSessionAndUser(sessionToken: string): Promise<{ session: AdapterSession; user: AdapterUser } | null>;
  updateSession(session: {
    sessionToken: string;
    userId?: string;
    expires?: Date | string;
  }): Promise<AdapterSession | null>;
  deleteSession(sessionToken: string): Promise<AdapterSession | null>;
  createVerificationToken(verificationToken: {
    identifier: string;
    token: string;
    expires: Date | string;
  }): Promise<VerificationToken>;
  useVerificationToken(params: { identifier: string; token: string }): Promise<VerificationToken | null>;
  getAccount(providerAccountId: string, provider: string): Promise<AdapterAccount | null>;
  getAuthenticator(credentialID: string): Promise<AdapterAuthenticator | null>;
  createAuthenticator(authenticator: AdapterAuthenticator): Promise<AdapterAuthenticator>;
  listAuthenticatorsByUserId(userId: string): Promise<AdapterAuthenticator[]>;
  updateAuthenticatorCounter(credentialID: string, newCounter: number): Promise<AdapterAuthenticator>;
}

/** Why an adapter call failed: a problem answered by the service, or no usable answer at all. */
export type AuthBridgeErrorCode =
  | "invalid_argument"
  | "unauthenticated"
  | "not_found"
  | "method_not_allowed"
  | "already_exists"
  | "payload_too_large"
  /** request line and headers over the server's `--max-header-bytes` */
  | "headers_too_large"
  | "unsupported_media_type"
  | "failed_precondition"
  /** the server's `--request-timeout-ms` passed (408) */
  | "request_timeout"
  | "unavailable"
  | "internal"
  /** fetch rejected (connection refused, DNS, TLS, reset) */
  | "network_error"
  /** no answer within `timeoutMs` */
  | "timeout"
  /** an answer that is not the contract's (not JSON, a non-problem error page, a bad date) */
  | "invalid_response"
  | (string & {});

/**
 * Thrown by every adapter method on a non-2xx answer or when no answer arrives. It never turns into
 * `null`: an outage must not look like "signed out" or "new user". The message carries no token,
 * email or key: only the method, status, code, the service's (redacted) detail and the request id.
 */
export class AuthBridgeError extends Error {
  override readonly name = "AuthBridgeError";
  /** The problem's `code`, or one of `network_error`, `timeout`, `invalid_response`. */
  readonly code: AuthBridgeErrorCode;
  /** HTTP status, `0` when no response arrived. */
  readonly status: number;
  /** The `X-Request-Id` of the exchange, to find it in the service's logs. */
  readonly requestId: string | undefined;
  /** The adapter method that failed. */
  readonly method: string;
  /** For a 400: the path of the offending field, e.g. `session.userId`. */
  readonly field: string | undefined;
  /** The service's human-readable explanation (never holds submitted values). */
  readonly detail: string | undefined;
  /** Seconds from a 503's `Retry-After`. */
  readonly retryAfter: number | undefined;

  constructor(init: {
    method: string;
    code: AuthBridgeErrorCode;
    status: number;
    requestId?: string | undefined;
    field?: string | undefined;
    detail?: string | undefined;
    retryAfter?: number | undefined;
    cause?: unknown;
  }) {
    const parts = [`authbridge ${init.method} failed: ${init.code}`];
    if (init.status) parts.push(`(HTTP ${init.status})`);
    if (init.field) parts.push(`field ${init.field}`);
    if (init.detail) parts.push(`- ${init.detail}`);
    if (init.requestId) parts.push(`[request ${init.requestId}]`);
    super(parts.join(" "), init.cause === undefined ? undefined : { cause: init.cause });
    this.method = init.method;
    this.code = init.code;
    this.status = init.status;
    this.requestId = init.requestId;
    this.field = init.field;
    this.detail = init.detail;
    this.retryAfter = init.retryAfter;
  }
}

const AUTHJS_MAX_AGE = 30 * 24 * 60 * 60;
const AUTHJS_UPDATE_AGE = 24 * 60 * 60;
const DEFAULT_TIMEOUT_MS = 10_000;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Reviver<T> = (value: Json, fail: (what: string) => never) => T;

/** Creates the adapter. Invalid options throw a `TypeError` here, not on the first sign-in. */
export function AuthBridgeAdapter(options: AuthBridgeAdapterOptions): AuthBridgeAdapterMethods {
  const base = parseBaseUrl(options.url);
  const maxAge = nonNegativeInteger("maxAge", options.maxAge, AUTHJS_MAX_AGE);
  const updateAge = nonNegativeInteger("updateAge", options.updateAge, Math.min(AUTHJS_UPDATE_AGE, maxAge));
  if (updateAge > maxAge) throw new TypeError("AuthBridgeAdapter: `updateAge` must not be greater than `maxAge`");
  const timeoutMs = nonNegativeInteger("timeoutMs", options.timeoutMs, DEFAULT_TIMEOUT_MS);
  if (options.apiKey !== undefined && (typeof options.apiKey !== "string" || options.apiKey === "")) {
    throw new TypeError("AuthBridgeAdapter: `apiKey` must be a non-empty string");
  }
  if (options.fetch !== undefined && typeof options.fetch !== "function") {
    throw new TypeError("AuthBridgeAdapter: `fetch` must be a function");
  }
  const extraHeaders = new Headers(options.headers);
  // Resolved per call, not captured: a global fetch called without its receiver throws "Illegal
  // invocation" in some runtimes, and tests or instrumentation may replace it later.
  const doFetch: typeof globalThis.fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));

  async function call<T>(method: string, body: Record<string, unknown>, revive: Reviver<T>): Promise<T> {
    const headers = new Headers(extraHeaders);
    headers.set("content-type", "application/json");
    headers.set("accept", "application/json, application/problem+json");
    if (options.apiKey !== undefined) headers.set("authorization", `Bearer ${options.apiKey}`);
    if (!headers.has("x-request-id")) {
      const id = newRequestId();
      if (id) headers.set("x-request-id", id);
    }
    let requestId = headers.get("x-request-id") ?? undefined;
    type Extra = Partial<ConstructorParameters<typeof AuthBridgeError>[0]>;
    const fail = (code: AuthBridgeErrorCode, status: number, extra: Extra = {}) =>
      new AuthBridgeError({ method, code, status, requestId, ...extra });

    const controller = timeoutMs > 0 ? new AbortController() : undefined;
    let timedOut = false;
    const timer = controller
      ? setTimeout(() => {
          timedOut = true;
          controller.abort();
        }, timeoutMs)
      : undefined;
    let status = 0;
    let contentType = "";
    let text: string;
    let retryAfter: number | undefined;
    try {
      const response = await doFetch(`${base}/v1/adapter/${method}`, {
        method: "POST",
        headers,
        body: JSON.stringify(body),
        // Next.js patches fetch and may cache even POSTs; a cached session read would outlive sign-out.
        cache: "no-store",
        ...(controller ? { signal: controller.signal } : {}),
      });
      status = response.status;
      contentType = (response.headers.get("content-type") ?? "").toLowerCase();
      requestId = response.headers.get("x-request-id") ?? requestId;
      const retry = Number.parseInt(response.headers.get("retry-after") ?? "", 10);
      retryAfter = Number.isFinite(retry) ? retry : undefined;
      text = await response.text();
    } catch (cause) {
      throw fail(timedOut ? "timeout" : "network_error", status, { cause });
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }

    if (status < 200 || status > 299) {
      const problem = contentType.includes("json") ? parseJson(text) : undefined;
      if (isObject(problem) && typeof problem.code === "string") {
        throw fail(problem.code, status, {
          requestId: typeof problem.requestId === "string" ? problem.requestId : requestId,
          field: typeof problem.field === "string" ? problem.field : undefined,
          detail: typeof problem.detail === "string" ? problem.detail : undefined,
          retryAfter,
        });
      }
      // Not the service's problem document (a proxy's error page, say): its body is not quoted.
      throw fail(status === 503 || status === 502 || status === 504 ? "unavailable" : "invalid_response", status, {
        detail: `unexpected ${status} answer that is not an authbridge problem`,
        retryAfter,
      });
    }
    const value = contentType.includes("json") ? parseJson(text) : undefined;
    if (value === undefined) {
      throw fail("invalid_response", status, { detail: "the answer is not JSON" });
    }
    return revive(value, (what) => {
      throw fail("invalid_response", status, { detail: `the answer is not ${what}` });
    });
  }

  // Arguments travel by name in the body; tokens and emails never go into the URL.
  return {
    createUser: (user) => call("createUser", { user }, user_),
    getUser: (id) => call("getUser", { id }, nullable(user_)),
    getUserByEmail: (email) => call("getUserByEmail", { email }, nullable(user_)),
    getUserByAccount: ({ provider, providerAccountId }) =>
      call("getUserByAccount", { provider, providerAccountId }, nullable(user_)),
    updateUser: (user) => call("updateUser", { user }, user_),
    deleteUser: (userId) => call("deleteUser", { userId }, nullable(user_)),
    linkAccount: (account) => call("linkAccount", { account }, account_),
    unlinkAccount: async ({ provider, providerAccountId }) =>
      (await call("unlinkAccount", { provider, providerAccountId }, nullable(account_))) ?? undefined,
    createSession: (session) => call("createSession", { session }, session_),
    getSessionAndUser: (sessionToken) =>
      call("getSessionAndUser", { sessionToken, maxAge, updateAge }, nullable(sessionAndUser_)),
    updateSession: (session) => call("updateSession", { session }, nullable(session_)),
    deleteSession: (sessionToken) => call("deleteSession", { sessionToken }, nullable(session_)),
    createVerificationToken: (verificationToken) =>
      call("createVerificationToken", { verificationToken }, verificationToken_),
    useVerificationToken: ({ identifier, token }) =>
      call("useVerificationToken", { identifier, token }, nullable(verificationToken_)),
    getAccount: (providerAccountId, provider) =>
      call("getAccount", { providerAccountId, provider }, nullable(account_)),
    getAuthenticator: (credentialID) => call("getAuthenticator", { credentialID }, nullable(authenticator_)),
    createAuthenticator: (authenticator) => call("createAuthenticator", { authenticator }, authenticator_),
    listAuthenticatorsByUserId: (userId) => call("listAuthenticatorsByUserId", { userId }, list(authenticator_)),
    updateAuthenticatorCounter: (credentialID, newCounter) =>
      call("updateAuthenticatorCounter", { credentialID, counter: newCounter }, authenticator_),
  };
}

function parseBaseUrl(url: string | URL): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError("AuthBridgeAdapter: `url` must be an absolute http(s) URL");
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new TypeError("AuthBridgeAdapter: `url` must be an absolute http(s) URL");
  }
  if (parsed.search || parsed.hash || parsed.username || parsed.password) {
    // Credentials belong in `apiKey` (a header), never in a URL that ends up in logs.
    throw new TypeError("AuthBridgeAdapter: `url` must not carry credentials, a query or a fragment");
  }
  return parsed.href.replace(/\/+$/, "");
}

function nonNegativeInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(`AuthBridgeAdapter: \`${name}\` must be a non-negative integer`);
  }
  return value;
}

function newRequestId(): string | undefined {
  // Present in every fetch runtime this package targets; only old Node lacks it (the service then
  // generates the id itself).
  return globalThis.crypto?.randomUUID?.();
}

function parseJson(text: string): Json | undefined {
  try {
    return JSON.parse(text) as Json;
  } catch {
    return undefined;
  }
}

function isObject(value: Json | undefined): value is { [key: string]: Json } {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// Revivers: check the shape just enough to turn wire dates into Date objects; anything that could
// make core misread a session (a missing or unparsable date) is an error, not a silent string.

function object(value: Json, fail: (what: string) => never, what: string): { [key: string]: Json } {
  return isObject(value) ? value : fail(what);
}

function date(value: Json | undefined, fail: (what: string) => never, what: string): Date {
  if (typeof value !== "string") return fail(what);
  const parsed = new Date(value);
  return Number.isNaN(parsed.getTime()) ? fail(what) : parsed;
}

function nullable<T>(revive: Reviver<T>): Reviver<T | null> {
  return (value, fail) => (value === null ? null : revive(value, fail));
}

function list<T>(revive: Reviver<T>): Reviver<T[]> {
  return (value, fail) => (Array.isArray(value) ? value.map((item) => revive(item, fail)) : fail("a list"));
}

const user_: Reviver<AdapterUser> = (value, fail) => {
  const user = object(value, fail, "a user");
  const verified = user.emailVerified;
  return {
    ...user,
    emailVerified: verified === null ? null : date(verified, fail, "a user with a valid emailVerified"),
  } as unknown as AdapterUser;
};

const session_: Reviver<AdapterSession> = (value, fail) => {
  const session = object(value, fail, "a session");
  return {
    ...session,
    expires: date(session.expires, fail, "a session with a valid expires"),
  } as unknown as AdapterSession;
};

const sessionAndUser_: Reviver<{ session: AdapterSession; user: AdapterUser }> = (value, fail) => {
  const pair = object(value, fail, "a session and user");
  return { session: session_(pair.session ?? null, fail), user: user_(pair.user ?? null, fail) };
};

const verificationToken_: Reviver<VerificationToken> = (value, fail) => {
  const token = object(value, fail, "a verification token");
  return {
    ...token,
    expires: date(token.expires, fail, "a verification token with a valid expires"),
  } as unknown as VerificationToken;
};

const account_: Reviver<AdapterAccount> = (value, fail) =>
  object(value, fail, "an account") as unknown as AdapterAccount;

const authenticator_: Reviver<AdapterAuthenticator> = (value, fail) =>
  object(value, fail, "an authenticator") as unknown as AdapterAuthenticator;
