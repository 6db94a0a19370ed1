"use server";
// Server actions behind the buttons. Each one re-reads the session itself: a server action is a
// public endpoint, so it must not trust ids sent by the form beyond checking them.
import { revalidatePath } from "next/cache";
import { redirect } from "next/navigation";
import { signOut } from "@/auth";
import { authbridge } from "./authbridge";
import { requireSession } from "./session";

export async function signOutAction(): Promise<void> {
  await signOut({ redirectTo: "/" });
}

export async function signOutDeviceAction(form: FormData): Promise<void> {
  const current = await requireSession("/devices");
  const sessionId = String(form.get("sessionId") ?? "");
  // Only a session of the signed-in user may be revoked: the id comes from the browser.
  const own = await authbridge().listSessions(current.user.id);
  if (!own.some((session) => session.id === sessionId)) redirect("/devices?error=unknown-session");
  if (sessionId === current.sessionId) {
    // This browser's own row: a normal sign-out also clears the cookie.
    await signOut({ redirectTo: "/" });
    return;
  }
  await authbridge().revokeSession(sessionId);
  revalidatePath("/devices");
  redirect("/devices?signedOut=1");
}

export async function signOutEverywhereAction(): Promise<void> {
  const current = await requireSession("/devices");
  const deleted = await authbridge().revokeOtherSessions(current.user.id, current.sessionId);
  revalidatePath("/devices");
  redirect(`/devices?signedOutEverywhere=${deleted}`);
}
