import "server-only";
import { redirect } from "next/navigation";
import { auth } from "@/auth";

export type CurrentSession = {
  sessionId: string;
  expires: string;
  user: { id: string; name?: string | null; email?: string | null };
};

/**
 * The signed-in user and the id of this browser's session row (added by the session callback in
 * auth.config.ts), or a redirect to the sign-in page. The middleware has already checked, but a
 * session can end between the two reads (another device signs this one out).
 */
export async function requireSession(callbackPath: string): Promise<CurrentSession> {
  const session = (await auth()) as unknown as CurrentSession | null;
  if (!session?.user?.id || !session.sessionId)
    redirect(`/api/auth/signin?callbackUrl=${encodeURIComponent(callbackPath)}`);
  return session;
}
