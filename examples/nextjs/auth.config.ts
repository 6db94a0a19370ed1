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
  const request = await headers();
  return {
    userAgent: request.get("user-agent"),
    ipAddress: request.get("x-forwarded-for")?.split(",").at(-1)?.trim(),
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
