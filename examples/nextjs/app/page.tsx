import { auth } from "@/auth";
import { SignOutButton } from "./sign-out-button";

export default async function Home() {
  const session = await auth();
  return (
    <>
      <h1>Home</h1>
      {session?.user ? (
        <>
          <p data-testid="home-status">
            Signed in as <strong>{session.user.email}</strong>.
          </p>
          <SignOutButton />
        </>
      ) : (
        <>
          <p data-testid="home-status">You are signed out.</p>
          <p>
            <a href="/api/auth/signin?callbackUrl=%2Fprotected">Sign in</a> with the mock OpenID Connect provider or
            with a magic link.
          </p>
        </>
      )}
    </>
  );
}
