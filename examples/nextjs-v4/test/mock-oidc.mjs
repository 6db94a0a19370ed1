// The OpenID Connect provider for the browser test: oauth2-mock-server, which accepts any client
// and redirects /authorize straight back with a code (no login form). Every token it signs gets
// the profile claims below, so the app's user comes from a real ID token.
// Usage: node test/mock-oidc.mjs [port]   (prints "ready <issuer>" once it listens)
import { OAuth2Server, Events } from "oauth2-mock-server";

const MOCK_USER = { sub: "johndoe", name: "Ada Mock", email: "ada.oidc@example.com" };

const port = Number(process.argv[2] ?? process.env.MOCK_OIDC_PORT ?? 18410);
const server = new OAuth2Server();
await server.issuer.keys.generate("RS256");
server.service.on(Events.BeforeTokenSigning, (token) => {
  Object.assign(token.payload, { name: MOCK_USER.name, email: MOCK_USER.email, email_verified: true });
});
// The default issuer URL says "localhost", which Node may resolve to ::1 where nothing listens.
server.issuer.url = `http://127.0.0.1:${port}`;
await server.start(port, "127.0.0.1");
console.log(`ready ${server.issuer.url}`);

const stop = () => server.stop().then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
