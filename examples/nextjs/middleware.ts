// Runs before /protected, /devices and /api/whoami. In Next.js 16 `middleware.ts` still runs on the
// Edge runtime by default (the new `proxy.ts` always runs on Node.js), so this is where a
// Prisma-backed adapter could not work: the session is read through authbridge with fetch.
import NextAuth from "next-auth";
import { NextResponse, type NextFetchEvent, type NextRequest } from "next/server";
import { sharedAuthConfig } from "@/auth.config";
import { rotateIfDue, type Rotation } from "@/lib/rotation";

// Configured when the Edge runtime first loads this module (at the first request, not during
// `next build`), so the environment of `next start` applies.
const { auth } = NextAuth(sharedAuthConfig());

/** The session check, for a request whose token `rotation` may just have replaced. */
const checkSession = (rotation: Rotation) =>
  auth((request) => {
    const signedIn = request.auth !== null && request.auth !== undefined;
    // An API route answers for itself (JSON, not a sign-in page): it reads the session again.
    const api = request.nextUrl.pathname.startsWith("/api/");
    const response =
      signedIn || api
        ? // With a rotated token, the page must see the new cookie header: it reads the session too.
          NextResponse.next(rotation.pageHeaders ? { request: { headers: rotation.pageHeaders } } : undefined)
        : NextResponse.redirect(
            new URL(`/api/auth/signin?callbackUrl=${encodeURIComponent(request.nextUrl.pathname)}`, request.nextUrl),
          );
    // Evidence for the browser test (and for you, in the network tab): which runtime ran this
    // check, what it found, and what rotation did. `EdgeRuntime` is a global only the Edge runtime
    // defines (read off globalThis so that no bundler can fold the test into a constant).
    const edge = typeof (globalThis as { EdgeRuntime?: unknown }).EdgeRuntime === "string";
    response.headers.set("x-authbridge-runtime", edge ? "edge" : "nodejs");
    response.headers.set("x-authbridge-session", signedIn ? "active" : "none");
    response.headers.set("x-authbridge-rotation", rotation.outcome);
    return response;
  });

// Next.js finds the middleware by a static look at this file: it must be a function declaration.
export default async function middleware(request: NextRequest, event: NextFetchEvent) {
  // Rotation first, so that the session check and the page see the token the browser will hold.
  const rotation = await rotateIfDue(request);
  // next-auth's wrapper always answers a Response (handleAuth); its type also allows route handlers' void.
  const response = (await checkSession(rotation)(rotation.request, event as never)) as Response;
  return rotation.finish(response);
}

export const config = { matcher: ["/protected/:path*", "/devices/:path*", "/api/whoami"] };
