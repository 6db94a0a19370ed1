import { getServerSession } from "next-auth";
import { redirect } from "next/navigation";
import { authOptions } from "../../lib/auth";
import { SignOutButton } from "./sign-out-button";

// Per request: the page depends on the session cookie (and the build has no authbridge to call).
export const dynamic = "force-dynamic";

export default async function ProtectedPage() {
  // Reads the session cookie and calls the adapter's getSessionAndUser (one request to authbridge).
  const session = await getServerSession(authOptions());
  if (!session?.user) redirect("/api/auth/signin?callbackUrl=%2Fprotected");
  const user = session.user as { id: string; name?: string | null; email?: string | null };
  return (
    <main>
      <h1>Protected page</h1>
      <p>You are signed in.</p>
      <dl>
        <dt>Name</dt>
        <dd data-testid="user-name">{user.name ?? "(none)"}</dd>
        <dt>Email</dt>
        <dd data-testid="user-email">{user.email ?? "(none)"}</dd>
        <dt>User id</dt>
        <dd data-testid="user-id">{user.id}</dd>
      </dl>
      <SignOutButton />
    </main>
  );
}
