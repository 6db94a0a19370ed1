"use client";
import { signOut } from "next-auth/react";

// next-auth posts to /api/auth/signout with its CSRF token; the adapter's deleteSession removes
// the row in authbridge.
export function SignOutButton() {
  return (
    <button type="button" onClick={() => signOut({ callbackUrl: "/" })}>
      Sign out
    </button>
  );
}
