// Runs before /protected and /devices. In Next.js 16 `middleware.ts` still runs on the Edge
// runtime by default (the new `proxy.ts` always runs on Node.js), so this is where a
// Prisma-backed adapter could not work: the session is read through authbridge with fetch.
import NextAuth from "next-auth";
import { NextResponse, type NextFetchEvent, type NextRequest } from "next/server";
import { sharedAuthConfig } from "@/auth.config";

// Configured when the Edge runtime first loads this module (at the first request, not during
// `next build`), so the environment of `next start` applies.
const { auth } = NextAuth(sharedAuthConfig());

const checkSession = auth((request) => {
  const signedIn = request.auth !== null && request.auth !== undefined;
  const response = signedIn
    ? NextResponse.next()
    : NextResponse.redirect(
        new URL(`/api/auth/signin?callbackUrl=${encodeURIComponent(request.nextUrl.pathname)}`, request.nextUrl),
      );
  // Evidence for the browser test (and for you, in the network tab): which runtime ran this
  // check, and what it found. `EdgeRuntime` is a global only the Edge runtime defines (read off
  // globalThis so that no bundler can fold the test into a constant).
  const edge = typeof (globalThis as { EdgeRuntime?: unknown }).EdgeRuntime === "string";
  response.headers.set("x-authbridge-runtime", edge ? "edge" : "nodejs");
  response.headers.set("x-authbridge-session", signedIn ? "active" : "none");
  return response;
});

// Next.js finds the middleware by a static look at this file: it must be a function declaration.
export default function middleware(request: NextRequest, event: NextFetchEvent) {
  return checkSession(request, event as never);
}

export const config = { matcher: ["/protected/:path*", "/devices/:path*"] };
