import { requireSession } from "@/lib/session";
import { SignOutButton } from "../sign-out-button";

export default async function Protected() {
  const session = await requireSession("/protected");
  return (
    <>
      <h1>Protected page</h1>
      <p>The middleware (Edge runtime) and this server component both read the session through authbridge.</p>
      <dl>
        <dt>Name</dt>
        <dd data-testid="user-name">{session.user.name ?? "—"}</dd>
        <dt>Email</dt>
        <dd data-testid="user-email">{session.user.email ?? "—"}</dd>
        <dt>User id</dt>
        <dd data-testid="user-id">{session.user.id}</dd>
        <dt>Session expires</dt>
        <dd data-testid="session-expires">{session.expires}</dd>
      </dl>
      <SignOutButton />
    </>
  );
}
