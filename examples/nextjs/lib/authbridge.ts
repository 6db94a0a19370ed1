// The session-management half of authbridge (list, revoke, sign out everywhere) through the
// package's typed client, called only from server code: the API key comes from the server's
// environment and never reaches the browser.
import "server-only";
import { AuthBridgeClient, type AuthBridgeClientMethods } from "authbridge-adapter";

let client: AuthBridgeClientMethods | undefined;

/** Created on first use, not at import: `next build` imports this module without the environment. */
export function authbridge(): AuthBridgeClientMethods {
  if (client) return client;
  const url = process.env.AUTHBRIDGE_URL;
  if (!url) throw new Error("AUTHBRIDGE_URL is not set (see examples/nextjs/README.md)");
  client = AuthBridgeClient({ url, apiKey: process.env.AUTHBRIDGE_API_KEY });
  return client;
}
