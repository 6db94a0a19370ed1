// next-auth v4 configuration: database sessions stored by authbridge through the thin adapter.
//
// Built on the first request, not at import: `next build` imports the route modules, and one build
// must serve whatever authbridge the environment names at `next start` (the test runs the same
// build against SQLite and PostgreSQL).
import type { NextAuthOptions } from "next-auth";
import EmailProvider from "next-auth/providers/email";
import { AuthBridgeAdapter } from "authbridge-adapter";
import { writeFile } from "node:fs/promises";

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (see examples/nextjs-v4/README.md)`);
  return value;
}

let options: NextAuthOptions | undefined;

export function authOptions(): NextAuthOptions {
  options ??= {
    adapter: AuthBridgeAdapter({ url: required("AUTHBRIDGE_URL"), apiKey: process.env.AUTHBRIDGE_API_KEY }),
    session: { strategy: "database" },
    providers: [
      {
        // Any OpenID Connect provider; in the test, oauth2-mock-server.
        id: "oidc",
        name: process.env.OIDC_NAME ?? "Mock OIDC",
        type: "oauth",
        wellKnown: `${required("OIDC_ISSUER")}/.well-known/openid-configuration`,
        issuer: required("OIDC_ISSUER"),
        clientId: required("OIDC_CLIENT_ID"),
        clientSecret: required("OIDC_CLIENT_SECRET"),
        authorization: { params: { scope: "openid email profile" } },
        // The profile comes from the verified ID token (no userinfo call).
        idToken: true,
        checks: ["pkce", "state", "nonce"],
        profile(profile) {
          return { id: profile.sub, name: profile.name ?? null, email: profile.email ?? null, image: null };
        },
      },
      EmailProvider({
        from: "noreply@example.com",
        // No mail is sent: the link goes to a file (MAGIC_LINK_FILE) that the test reads. A real
        // app sends it by mail; the link is a credential, so it is never logged.
        async sendVerificationRequest({ url }) {
          await writeFile(required("MAGIC_LINK_FILE"), url, { mode: 0o600 });
        },
      }),
    ],
    callbacks: {
      // With database sessions the callback gets the user row; expose its id to the page.
      session({ session, user }) {
        return { ...session, user: { ...session.user, id: user.id } };
      },
    },
  };
  return options;
}
