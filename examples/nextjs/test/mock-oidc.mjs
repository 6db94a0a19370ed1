// A local OpenID Connect provider (oauth2-mock-server) that signs everyone in as one user.
// The browser test imports startMockOidc(); `node test/mock-oidc.mjs` runs it by hand.
import { OAuth2Server } from "oauth2-mock-server";

export const MOCK_USER = { sub: "mock-user-1", email: "ada@example.test", name: "Ada Lovelace" };

export async function startMockOidc({ host = "127.0.0.1", port = 18310, user = MOCK_USER } = {}) {
  const server = new OAuth2Server();
  await server.issuer.keys.generate("RS256");
  // The issuer must be exactly the URL Auth.js is configured with: the discovery document's
  // `issuer` and the ID token's `iss` are both checked against it.
  server.issuer.url = `http://${host}:${port}`;
  // The mock signs everyone in as "johndoe" with no email; Auth.js reads the profile from the ID
  // token's claims, and some providers from userinfo, so both say who the user is.
  server.service.on("beforeTokenSigning", (token) => {
    Object.assign(token.payload, { ...user, email_verified: true });
  });
  server.service.on("beforeUserinfo", (response) => {
    response.body = { ...user, email_verified: true };
  });
  await server.start(port, host);
  return server;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const server = await startMockOidc({ port: Number(process.env.OIDC_PORT ?? 18310) });
  console.log(`mock OpenID Connect provider at ${server.issuer.url}, signing in as ${MOCK_USER.email}`);
}
