/**
 * authbridge-adapter: an Auth.js (v5, `@auth/core`) and next-auth v4 database adapter that keeps no
 * database driver on the application side. Every method is one `POST /v1/adapter/{method}` to an
 * authbridge service; only `fetch` is used, so it runs wherever `fetch` does (Node, the Next.js Edge
 * runtime and middleware, Cloudflare Workers, Bun, Deno). {@link AuthBridgeClient}, in the same
 * package and under the same rules, is the typed client of the session-management routes.
 */

/** How to reach the service: shared by {@link AuthBridgeAdapter} and {@link AuthBridgeClient}. */
export interface AuthBridgeConnectionOptions {
  /** Base URL of the authbridge service, e.g. `http://authbridge.internal:7777`. A path prefix is kept. */
  url: string | URL;
  /** Sent as `Authorization: Bearer <apiKey>`. Required unless the service runs without keys. */
  apiKey?: string;
  /** A `fetch` to use instead of the global one (tests, tracing, custom agents). */
  fetch?: typeof globalThis.fetch;
  /** Extra headers sent with every request. `apiKey` wins over an `authorization` header given here. */
  headers?: RequestInit["headers"];
  /** Abort a request that takes longer than this (milliseconds, default 10000; 0 = never). */
  timeoutMs?: number;
  /**
   * Retries of reads (never of writes) that got no answer or a 503: see {@link RetryOptions}.
   * Default `{ attempts: 4, budgetMs: 5000 }`; `{ attempts: 0 }` or `budgetMs: 0` disables them.
   */
  retry?: RetryOptions;
}

/**
 * When a read is tried again. Only reads are retried (the adapter's `getSessionAndUser`, `getUser`,
 * `getUserByEmail`, `getUserByAccount`, `getAccount`, `getAuthenticator`,
 * `listAuthenticatorsByUserId`, and the client's `listSessions`, `userSessionStats`,
 * `sessionStats`), and only after an answer that says the request was not carried out or never
 * arrived: a 503 (the service is at capacity or its database is unavailable), a refused or reset
 * connection. A write that failed that way is not retried: it may have been carried out.
 *
 * The wait before a retry is the answer's `Retry-After` when there is one, else an exponential
 * backoff from 50 ms, plus up to half as much again of random jitter (so that many callers do not
 * come back at the same instant); a retry whose wait would end past `budgetMs` (counted from the
 * first attempt) is not made, and the last error is thrown.
 */
export interface RetryOptions {
  /** Retries after the first attempt (default 4; 0 = none). */
  attempts?: number;
  /** Milliseconds from the first attempt past which no retry starts (default 5000; 0 = none). */
  budgetMs?: number;
}

/**
 * Where a session is used from, stored in the `Session` columns `ipAddress` / `userAgent` when the
 * team's schema has them (see the README). Missing, `null` and empty values are not sent.
 */
export interface SessionContext {
  ipAddress?: string | null | undefined;
  userAgent?: string | null | undefined;
}

/** Options of {@link AuthBridgeAdapter}. */
export interface AuthBridgeAdapterOptions extends AuthBridgeConnectionOptions {
  /**
   * Session lifetime in seconds, as Auth.js `session.maxAge` (default 30 days). Sent with every
   * `getSessionAndUser` so the service slides the expiry in the same round trip.
   */
  maxAge?: number;
  /** As Auth.js `session.updateAge` (default 24 hours): how often the expiry is pushed forward. */
  updateAge?: number;
  /**
   * Called for every `createSession` (a sign-in), sync or async: the device the session is created
   * for, sent as the request's `context`. In Next.js read the request's headers here (`headers()`
   * from `next/headers`, or the request of the lazy `NextAuth(req => config)` form); see the README.
   */
  context?: () => SessionContext | null | undefined | Promise<SessionContext | null | undefined>;
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
/**
 * The longest `userAgent` sent: a Prisma `String` is `VARCHAR(191)` on MySQL, where the service
 * refuses a longer value with a 400, and a sign-in must not fail over metadata. Browsers' user
 * agents are shorter; the rare longer one (in-app browsers) loses its tail.
 */
const USER_AGENT_MAX = 191;

const DEFAULT_RETRY_ATTEMPTS = 4;
const DEFAULT_RETRY_BUDGET_MS = 5_000;
const RETRY_BACKOFF_MS = 50;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Reviver<T> = (value: Json, fail: (what: string) => never) => T;
type HttpMethod = "GET" | "POST" | "DELETE";

/**
 * Sends one request and turns its answer into a value or an {@link AuthBridgeError}; a `read` is
 * retried as {@link RetryOptions} says.
 */
type Send = <T>(
  method: string,
  http: HttpMethod,
  path: string,
  body: Record<string, unknown> | undefined,
  revive: Reviver<T>,
  read?: "read",
) => Promise<T>;

/** What a failed attempt says about a retry: worth one (and after how long at least) or not. */
function retryable(error: unknown): { afterMs: number | undefined } | undefined {
  if (!(error instanceof AuthBridgeError)) return undefined;
  if (error.status === 503) return { afterMs: error.retryAfter === undefined ? undefined : error.retryAfter * 1000 };
  // fetch reports a refused or reset connection as a TypeError whose cause has the system code.
  if (error.code === "network_error" && error.status === 0) {
    const code = networkCode(error.cause);
    if (code === "ECONNREFUSED" || code === "ECONNRESET" || code === "UND_ERR_SOCKET" || code === "EPIPE") {
      return { afterMs: undefined };
    }
  }
  return undefined;
}

/** The system error code somewhere in a fetch failure's chain of causes. */
function networkCode(error: unknown): string | undefined {
  for (let depth = 0; depth < 4 && typeof error === "object" && error !== null; depth++) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string") return code;
    error = (error as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Checks the connection options (a `TypeError` naming `owner` when invalid) and returns the sender. */
function connect(owner: string, options: AuthBridgeConnectionOptions): Send {
  const base = parseBaseUrl(owner, options.url);
  const timeoutMs = nonNegativeInteger(owner, "timeoutMs", options.timeoutMs, DEFAULT_TIMEOUT_MS);
  if (options.apiKey !== undefined && (typeof options.apiKey !== "string" || options.apiKey === "")) {
    throw new TypeError(`${owner}: \`apiKey\` must be a non-empty string`);
  }
  if (options.fetch !== undefined && typeof options.fetch !== "function") {
    throw new TypeError(`${owner}: \`fetch\` must be a function`);
  }
  const retry = options.retry ?? {};
  if (typeof retry !== "object" || retry === null) throw new TypeError(`${owner}: \`retry\` must be an object`);
  const attempts = nonNegativeInteger(owner, "retry.attempts", retry.attempts, DEFAULT_RETRY_ATTEMPTS);
  const budgetMs = nonNegativeInteger(owner, "retry.budgetMs", retry.budgetMs, DEFAULT_RETRY_BUDGET_MS);
  const extraHeaders = new Headers(options.headers);
  // Resolved per call, not captured: a global fetch called without its receiver throws "Illegal
  // invocation" in some runtimes, and tests or instrumentation may replace it later.
  const doFetch: typeof globalThis.fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));

  return async function send<T>(
    method: string,
    http: HttpMethod,
    path: string,
    body: Record<string, unknown> | undefined,
    revive: Reviver<T>,
    read?: "read",
  ): Promise<T> {
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      try {
        return await once(method, http, path, body, revive);
      } catch (error) {
        const retry = read === "read" && attempt < attempts ? retryable(error) : undefined;
        if (retry === undefined) throw error;
        const backoff = retry.afterMs ?? RETRY_BACKOFF_MS * 2 ** attempt;
        const wait = backoff + Math.random() * backoff * 0.5;
        if (Date.now() - started + wait > budgetMs) throw error;
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  };

  async function once<T>(
    method: string,
    http: HttpMethod,
    path: string,
    body: Record<string, unknown> | undefined,
    revive: Reviver<T>,
  ): Promise<T> {
    const headers = new Headers(extraHeaders);
    if (body !== undefined) headers.set("content-type", "application/json");
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
      const response = await doFetch(`${base}${path}`, {
        method: http,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
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
}

/** Creates the adapter. Invalid options throw a `TypeError` here, not on the first sign-in. */
export function AuthBridgeAdapter(options: AuthBridgeAdapterOptions): AuthBridgeAdapterMethods {
  const owner = "AuthBridgeAdapter";
  const send = connect(owner, options);
  const maxAge = nonNegativeInteger(owner, "maxAge", options.maxAge, AUTHJS_MAX_AGE);
  const updateAge = nonNegativeInteger(owner, "updateAge", options.updateAge, Math.min(AUTHJS_UPDATE_AGE, maxAge));
  if (updateAge > maxAge) throw new TypeError(`${owner}: \`updateAge\` must not be greater than \`maxAge\``);
  const context = options.context;
  if (context !== undefined && typeof context !== "function") {
    throw new TypeError(`${owner}: \`context\` must be a function`);
  }
  const call = <T>(method: string, body: Record<string, unknown>, revive: Reviver<T>) =>
    send(method, "POST", `/v1/adapter/${method}`, body, revive);
  // The reads: safe to send twice (getSessionAndUser may slide the expiry, which is idempotent).
  const read = <T>(method: string, body: Record<string, unknown>, revive: Reviver<T>) =>
    send(method, "POST", `/v1/adapter/${method}`, body, revive, "read");

  // Arguments travel by name in the body; tokens and emails never go into the URL.
  return {
    createUser: (user) => call("createUser", { user }, user_),
    getUser: (id) => read("getUser", { id }, nullable(user_)),
    getUserByEmail: (email) => read("getUserByEmail", { email }, nullable(user_)),
    getUserByAccount: ({ provider, providerAccountId }) =>
      read("getUserByAccount", { provider, providerAccountId }, nullable(user_)),
    updateUser: (user) => call("updateUser", { user }, user_),
    deleteUser: (userId) => call("deleteUser", { userId }, nullable(user_)),
    linkAccount: (account) => call("linkAccount", { account }, account_),
    unlinkAccount: async ({ provider, providerAccountId }) =>
      (await call("unlinkAccount", { provider, providerAccountId }, nullable(account_))) ?? undefined,
    createSession: async (session) =>
      call("createSession", { session, ...(context ? { context: contextBody(await context()) } : {}) }, session_),
    getSessionAndUser: (sessionToken) =>
      read("getSessionAndUser", { sessionToken, maxAge, updateAge }, nullable(sessionAndUser_)),
    updateSession: (session) => call("updateSession", { session }, nullable(session_)),
    deleteSession: (sessionToken) => call("deleteSession", { sessionToken }, nullable(session_)),
    createVerificationToken: (verificationToken) =>
      call("createVerificationToken", { verificationToken }, verificationToken_),
    useVerificationToken: ({ identifier, token }) =>
      call("useVerificationToken", { identifier, token }, nullable(verificationToken_)),
    getAccount: (providerAccountId, provider) =>
      read("getAccount", { providerAccountId, provider }, nullable(account_)),
    getAuthenticator: (credentialID) => read("getAuthenticator", { credentialID }, nullable(authenticator_)),
    createAuthenticator: (authenticator) => call("createAuthenticator", { authenticator }, authenticator_),
    listAuthenticatorsByUserId: (userId) => read("listAuthenticatorsByUserId", { userId }, list(authenticator_)),
    updateAuthenticatorCounter: (credentialID, newCounter) =>
      call("updateAuthenticatorCounter", { credentialID, counter: newCounter }, authenticator_),
  };
}

/** The wire `context`: only non-empty strings, the user agent cut to what every backend stores. */
function contextBody(context: SessionContext | null | undefined): { ipAddress?: string; userAgent?: string } {
  const body: { ipAddress?: string; userAgent?: string } = {};
  const ipAddress = context?.ipAddress;
  const userAgent = context?.userAgent;
  if (typeof ipAddress === "string" && ipAddress !== "") body.ipAddress = ipAddress;
  if (typeof userAgent === "string" && userAgent !== "") {
    // Cut by code points, not UTF-16 units, so no surrogate pair is split.
    const points = Array.from(userAgent);
    body.userAgent = points.length > USER_AGENT_MAX ? points.slice(0, USER_AGENT_MAX).join("") : userAgent;
  }
  return body;
}

/** Options of {@link AuthBridgeClient}: only how to reach the service. */
export type AuthBridgeClientOptions = AuthBridgeConnectionOptions;

/**
 * A session as the management routes show it: never its token. The metadata is `null` when it is
 * unknown, when the team's `Session` model lacks the column, or when the service predates it.
 */
export interface SessionInfo {
  id: string;
  userId: string;
  expires: Date;
  /** When the session was created (the `createdAt` column). */
  createdAt: Date | null;
  /** When authbridge last wrote the row: creation, a slide of the expiry, an update, a rotation. */
  updatedAt: Date | null;
  /** The `context.ipAddress` of the sign-in or of the latest rotation. */
  ipAddress: string | null;
  /** The `context.userAgent` of the sign-in or of the latest rotation. */
  userAgent: string | null;
  /**
   * When the token was last rotated; `null` when never rotated, or when the team's `Session` model
   * lacks the rotation columns (see the README).
   */
  rotatedAt: Date | null;
}

export interface UserSessionStats {
  /** Every session row of the user, expired ones too. */
  totalSessions: number;
  activeSessions: number;
  expiredSessions: number;
  /** The latest `expires` of any of the user's sessions, expired ones too. */
  latestExpires: Date | null;
}

export interface SessionStats {
  activeSessions: number;
  expiredSessions: number;
  usersWithActiveSessions: number;
  expiringWithin24h: number;
}

export interface PurgeResult {
  sessionsDeleted: number;
  verificationTokensDeleted: number;
}

/** Options of {@link AuthBridgeClientMethods.rotateSession}. */
export interface RotateOptions {
  /** The new expiry, `now + maxAge` seconds (the service's default when absent); use Auth.js `session.maxAge`. */
  maxAge?: number | undefined;
  /** The device the request comes from, stored as on sign-in. */
  context?: SessionContext | undefined;
}

/** Options of {@link AuthBridgeClientMethods.rotateSessionIfDue}. */
export interface RotateIfDueOptions extends RotateOptions {
  /** Seconds since the last rotation (or the sign-in) after which the token is replaced; an integer ≥ 0. */
  rotateAfter: number;
}

/** What {@link AuthBridgeClientMethods.rotateSessionIfDue} found. */
export interface RotationResult {
  session: AdapterSession;
  /** `true` when `session.sessionToken` is a new token (the answer's token differs from the one sent). */
  rotated: boolean;
}

/**
 * The session-management routes, typed. Server-side only: it holds an API key with the
 * `sessions:manage` (and, for `purgeExpired`, `maintenance`) scope, which must never reach a browser.
 */
export interface AuthBridgeClientMethods {
  /** The user's sessions, newest `expires` first: live ones (default) or, with `active: false`, all; at most `limit` (1..1000). */
  listSessions(userId: string, options?: { active?: boolean; limit?: number }): Promise<SessionInfo[]>;
  /** Signs one device out; the deleted session, or `null` when it was already gone. */
  revokeSession(sessionId: string): Promise<SessionInfo | null>;
  /** Signs the user out everywhere but `keepSessionId`; how many sessions went (expired ones too). */
  revokeOtherSessions(userId: string, keepSessionId: string): Promise<number>;
  /** Signs the user out everywhere; how many sessions went (expired ones too). */
  revokeAllSessions(userId: string): Promise<number>;
  /**
   * A new token for the same session (same `id`), `expires = now + maxAge` (the service's default
   * when absent). Where the `Session` model has the rotation columns, the old token is still
   * honoured for the service's `--rotation-grace` (parallel requests of the same browser) and
   * presented later it revokes the session (reuse of a stolen token); without them it stops working
   * at once. `null` when the session is missing or expired.
   */
  rotateSession(sessionToken: string, options?: RotateOptions): Promise<AdapterSession | null>;
  /**
   * Rotates only when due, for a middleware that runs on every request: when the session was last
   * rotated (or created, if never) at least `rotateAfter` seconds ago, a new token as
   * {@link rotateSession} makes one (`rotated: true`: set it as the cookie); otherwise the session
   * unchanged with the token sent (`rotated: false`: set nothing, the token may be one a parallel
   * request just replaced, which the service still honours for its grace window). `null` when
   * there is no session: signed out, expired, or an old token presented after the grace window
   * (the service then deletes the session). One HTTP call. Needs the rotation columns (README).
   */
  rotateSessionIfDue(sessionToken: string, options: RotateIfDueOptions): Promise<RotationResult | null>;
  userSessionStats(userId: string): Promise<UserSessionStats>;
  sessionStats(): Promise<SessionStats>;
  /** Deletes every expired session and verification token, `batchSize` rows per statement. */
  purgeExpired(options?: { batchSize?: number }): Promise<PurgeResult>;
}

/** Creates the management client. Invalid options throw a `TypeError` here, not on the first call. */
export function AuthBridgeClient(options: AuthBridgeClientOptions): AuthBridgeClientMethods {
  const send = connect("AuthBridgeClient", options);
  // Ids go into the path, so each is one encoded segment; tokens travel in bodies only.
  const user = (userId: string) => `/v1/users/${encodeURIComponent(userId)}`;
  // The one request behind rotateSession and rotateSessionIfDue.
  const rotate = (
    method: string,
    { sessionToken, maxAge, context, rotateAfter }: { sessionToken: string; rotateAfter?: number } & RotateOptions,
  ) =>
    send(
      method,
      "POST",
      "/v1/sessions/rotate",
      {
        sessionToken,
        ...(maxAge !== undefined ? { maxAge } : {}),
        ...(context !== undefined ? { context: contextBody(context) } : {}),
        ...(rotateAfter !== undefined ? { rotateAfter } : {}),
      },
      nullable(session_),
    );
  return {
    listSessions: (userId, { active, limit } = {}) => {
      const query = new URLSearchParams();
      if (active !== undefined) query.set("active", String(active));
      if (limit !== undefined) query.set("limit", String(limit));
      // Not `query.size`: too new for some runtimes this package targets.
      const search = query.toString();
      const path = `${user(userId)}/sessions${search ? `?${search}` : ""}`;
      return send("listSessions", "GET", path, undefined, list(sessionInfo_), "read");
    },
    revokeSession: (sessionId) =>
      send(
        "revokeSession",
        "DELETE",
        `/v1/sessions/${encodeURIComponent(sessionId)}`,
        undefined,
        nullable(sessionInfo_),
      ),
    revokeOtherSessions: (userId, keepSessionId) =>
      send(
        "revokeOtherSessions",
        "DELETE",
        `${user(userId)}/sessions?${new URLSearchParams({ except: keepSessionId })}`,
        undefined,
        deleted_,
      ),
    revokeAllSessions: (userId) => send("revokeAllSessions", "DELETE", `${user(userId)}/sessions`, undefined, deleted_),
    rotateSession: (sessionToken, { maxAge, context } = {}) =>
      rotate("rotateSession", { sessionToken, maxAge, context }),
    rotateSessionIfDue: async (sessionToken, options) => {
      const owner = "AuthBridgeClient.rotateSessionIfDue";
      if (typeof sessionToken !== "string" || sessionToken === "") {
        throw new TypeError(`${owner}: \`sessionToken\` must be a non-empty string`);
      }
      if (typeof options !== "object" || options === null) {
        throw new TypeError(`${owner}: \`options\` must be an object with \`rotateAfter\``);
      }
      const { maxAge, context } = options;
      if (options.rotateAfter === undefined) throw new TypeError(`${owner}: \`rotateAfter\` is required`);
      const rotateAfter = nonNegativeInteger(owner, "rotateAfter", options.rotateAfter, 0);
      if (maxAge !== undefined) nonNegativeInteger(owner, "maxAge", maxAge, 0);
      if (context !== undefined && (typeof context !== "object" || context === null)) {
        throw new TypeError(`${owner}: \`context\` must be an object`);
      }
      const session = await rotate("rotateSessionIfDue", { sessionToken, maxAge, context, rotateAfter });
      // The service answers the token sent when it did not rotate (not due, or a previous token
      // inside the grace window), so a different token is the one sign of a rotation.
      return session === null ? null : { session, rotated: session.sessionToken !== sessionToken };
    },
    userSessionStats: (userId) =>
      send("userSessionStats", "GET", `${user(userId)}/session-stats`, undefined, userSessionStats_, "read"),
    sessionStats: () =>
      send("sessionStats", "GET", "/v1/stats/sessions", undefined, plain<SessionStats>("statistics"), "read"),
    purgeExpired: ({ batchSize } = {}) =>
      send(
        "purgeExpired",
        "POST",
        "/v1/maintenance/purge-expired",
        batchSize !== undefined ? { batchSize } : {},
        plain<PurgeResult>("purge totals"),
      ),
  };
}

function parseBaseUrl(owner: string, url: string | URL): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`${owner}: \`url\` must be an absolute http(s) URL`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new TypeError(`${owner}: \`url\` must be an absolute http(s) URL`);
  }
  if (parsed.search || parsed.hash || parsed.username || parsed.password) {
    // Credentials belong in `apiKey` (a header), never in a URL that ends up in logs.
    throw new TypeError(`${owner}: \`url\` must not carry credentials, a query or a fragment`);
  }
  return parsed.href.replace(/\/+$/, "");
}

function nonNegativeInteger(owner: string, name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(`${owner}: \`${name}\` must be a non-negative integer`);
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

/** A date that may be absent: `null` when unknown or when the service does not send the field. */
function optionalDate(value: Json | undefined, fail: (what: string) => never, what: string): Date | null {
  return value === null || value === undefined ? null : date(value, fail, what);
}

function optionalString(value: Json | undefined, fail: (what: string) => never, what: string): string | null {
  if (value === null || value === undefined) return null;
  return typeof value === "string" ? value : fail(what);
}

const sessionInfo_: Reviver<SessionInfo> = (value, fail) => {
  const info = object(value, fail, "a session");
  return {
    ...info,
    expires: date(info.expires, fail, "a session with a valid expires"),
    createdAt: optionalDate(info.createdAt, fail, "a session with a valid createdAt"),
    updatedAt: optionalDate(info.updatedAt, fail, "a session with a valid updatedAt"),
    ipAddress: optionalString(info.ipAddress, fail, "a session with a string ipAddress"),
    userAgent: optionalString(info.userAgent, fail, "a session with a string userAgent"),
    rotatedAt: optionalDate(info.rotatedAt, fail, "a session with a valid rotatedAt"),
  } as unknown as SessionInfo;
};

const deleted_: Reviver<number> = (value, fail) => {
  const answer = object(value, fail, "a count of deleted sessions");
  return typeof answer.deleted === "number" ? answer.deleted : fail("a count of deleted sessions");
};

const userSessionStats_: Reviver<UserSessionStats> = (value, fail) => {
  const stats = object(value, fail, "session statistics");
  return {
    ...stats,
    latestExpires: optionalDate(stats.latestExpires, fail, "session statistics with a valid latestExpires"),
  } as unknown as UserSessionStats;
};

function plain<T>(what: string): Reviver<T> {
  return (value, fail) => object(value, fail, what) as unknown as T;
}
