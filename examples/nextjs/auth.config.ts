// The part of the Auth.js configuration that the middleware shares with the server: everything
// here runs on the Edge runtime too. That includes the database adapter — authbridge-adapter only
// needs `fetch`, which is exactly what @auth/prisma-adapter cannot offer in middleware.
import type { NextAuthConfig } from "next-auth";
import { headers } from "next/headers";
import { AuthBridgeAdapter } from "authbridge-adapter";

/** Seconds from an environment variable, or the Auth.js default when it is unset. */
function seconds(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name} must be a whole number of seconds`);
  return value;
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (see examples/nextjs/README.md)`);
  return value;
}

/**
 * The device behind a sign-in, for the devices page: called by the adapter for each createSession,
 * which runs in the sign-in callback's route handler, where `headers()` reads the request.
 * `next start` fills `x-forwarded-for` from the socket unless the request brought one; this example
 * runs without a proxy, so the address is only as true as the client's word. Behind one proxy of
 * your own that appends to it, its last entry is the one to trust (adapter/README.md).
 */
async function deviceContext() {
  return contextOf(await headers());
}

/** The device of a request, from its headers: for sign-in (above) and for rotation (middleware). */
export function contextOf(request: Headers) {
  return {
    userAgent: request.get("user-agent"),
    ipAddress: request.get("x-forwarded-for")?.split(",").at(-1)?.trim(),
  };
}

/**
 * One hour: a copied cookie works until the next rotation by either holder (plus the grace window),
 * after which the other holder's old token revokes the session; an hour bounds that while the real
 * user is active, for one database write per session and hour.
 */
const ROTATE_AFTER_DEFAULT = 60 * 60;

/**
 * How often the middleware gives the session a new token (docs/rotation-in-apps.md):
 * `AUTHBRIDGE_ROTATE_AFTER` seconds since the last rotation or the sign-in (default 1 hour), or
 * `off`. `null` when off. The new expiry is Auth.js's `maxAge` from now, as a slide would set it.
 */
export function rotationSettings(): { rotateAfter: number; maxAge: number } | null {
  if (process.env.AUTHBRIDGE_ROTATE_AFTER === "off") return null;
  return {
    rotateAfter: seconds("AUTHBRIDGE_ROTATE_AFTER", ROTATE_AFTER_DEFAULT),
    maxAge: sharedAuthConfig().session!.maxAge!,
  };
}

let shared: NextAuthConfig | undefined;

/**
 * Built on first use, not at import: `next build` imports these modules without the runtime
 * environment, and the adapter refuses to be created without a URL.
 */
export function sharedAuthConfig(): NextAuthConfig {
  if (shared) return shared;
  // Auth.js and the adapter must agree on these, or the cookie and the database expiry drift apart.
  const maxAge = seconds("SESSION_MAX_AGE", 30 * 24 * 60 * 60);
  const updateAge = seconds("SESSION_UPDATE_AGE", Math.min(24 * 60 * 60, maxAge));
  shared = {
    adapter: AuthBridgeAdapter({
      url: required("AUTHBRIDGE_URL"),
      apiKey: process.env.AUTHBRIDGE_API_KEY,
      maxAge,
      updateAge,
      context: deviceContext,
    }),
    session: { strategy: "database", maxAge, updateAge },
    providers: [
      {
        id: "mock",
        name: "Mock OIDC",
        type: "oidc",
        issuer: required("OIDC_ISSUER"),
        clientId: required("OIDC_CLIENT_ID"),
        clientSecret: required("OIDC_CLIENT_SECRET"),
        // Auth.js's sign-in page would otherwise load a logo from authjs.dev.
        style: { logo: "/openid.svg" },
      },
    ],
    callbacks: {
      // What the app (and /api/auth/session) sees. The default would drop the user id, which the
      // devices page needs; the session id is not a credential (the management API wants the
      // API key), while the session token is one and never leaves the cookie.
      session({ session, user }) {
        const row = session as unknown as { id?: string; expires: Date };
        return {
          user: { id: user.id, name: user.name, email: user.email, image: user.image },
          expires: row.expires.toISOString(),
          sessionId: row.id,
        } as unknown as typeof session;
      },
    },
    trustHost: true,
  };
  return shared;
}
