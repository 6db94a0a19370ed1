// The published declarations must compile for an application without the DOM lib (Node types
// only), with lib checking on: `npm run typecheck` compiles this with tsconfig.node-only.json.
import { AuthBridgeAdapter, AuthBridgeClient, AuthBridgeError, type SessionInfo } from "../../dist/index.js";

export const adapter = AuthBridgeAdapter({
  url: "http://127.0.0.1:7777",
  headers: { "x-tenant": "t" },
  fetch,
  context: async () => ({ ipAddress: "127.0.0.1", userAgent: "node" }),
});
export const client = AuthBridgeClient({ url: "http://127.0.0.1:7777", apiKey: "key", fetch, timeoutMs: 1000 });
export const isError = (e: unknown): e is AuthBridgeError => e instanceof AuthBridgeError;
export const lastSeen = async (userId: string): Promise<Date | null> => {
  const [latest]: SessionInfo[] = await client.listSessions(userId, { limit: 1 });
  return latest?.updatedAt ?? null;
};
