// Whether this request is signed in, and to which session: what a client component or a fetch
// from the page would ask. The middleware covers it, so it is where rotation happens for requests
// that are not page loads; the browser test fires ten of these at the moment a rotation is due.
import { auth } from "@/auth";

export const dynamic = "force-dynamic";

export async function GET() {
  // The session id is not a credential (auth.config.ts); the token never leaves the cookie.
  const session = (await auth()) as { sessionId?: string } | null;
  return Response.json(
    { signedIn: Boolean(session?.sessionId), sessionId: session?.sessionId ?? null },
    { headers: { "cache-control": "no-store" } },
  );
}
