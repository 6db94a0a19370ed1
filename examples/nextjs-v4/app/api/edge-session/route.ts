// The same database session, read in the Edge runtime, where Prisma and next-auth v4's own server
// code cannot run: the adapter needs only fetch. Answers the signed-in user (never the token) or
// null; middleware could make the same call to guard routes with database sessions.
import { AuthBridgeAdapter } from "authbridge-adapter";
import type { NextRequest } from "next/server";

export const runtime = "edge";

// next-auth v4's cookie names: the __Secure- prefix is used when NEXTAUTH_URL is https.
const COOKIES = ["__Secure-next-auth.session-token", "next-auth.session-token"];

export async function GET(request: NextRequest) {
  const token = COOKIES.map((name) => request.cookies.get(name)?.value).find(Boolean);
  const adapter = AuthBridgeAdapter({ url: process.env.AUTHBRIDGE_URL!, apiKey: process.env.AUTHBRIDGE_API_KEY });
  const found = token ? await adapter.getSessionAndUser!(token) : null;
  const body = found
    ? { user: { id: found.user.id, name: found.user.name, email: found.user.email }, expires: found.session.expires }
    : null;
  return Response.json(body, { headers: { "cache-control": "no-store" } });
}
