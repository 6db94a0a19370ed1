// The server's Auth.js instance: the shared configuration plus sign-in by email. Magic links are
// not mailed: sendVerificationRequest writes them to MAGIC_LINK_FILE, where the browser test (or
// you, by hand) picks them up. No nodemailer is needed for a provider of type "email".
import { appendFile } from "node:fs/promises";
import NextAuth from "next-auth";
import type { EmailConfig } from "next-auth/providers/email";
import { sharedAuthConfig } from "@/auth.config";

const magicLinkToFile: EmailConfig = {
  id: "email",
  type: "email",
  name: "Email",
  maxAge: 10 * 60,
  async sendVerificationRequest({ identifier, url }) {
    const file = process.env.MAGIC_LINK_FILE;
    if (!file) throw new Error("MAGIC_LINK_FILE is not set: this example writes magic links to a file");
    // One JSON line per link; the file holds sign-in secrets, so only its owner may read it.
    await appendFile(file, JSON.stringify({ email: identifier, url }) + "\n", { mode: 0o600 });
  },
};

export const { handlers, auth, signIn, signOut } = NextAuth(() => {
  const shared = sharedAuthConfig();
  return { ...shared, providers: [...(shared.providers ?? []), magicLinkToFile] };
});
