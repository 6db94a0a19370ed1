// The published declarations must compile for an application without the DOM lib (Node types
// only), with lib checking on: `npm run typecheck` compiles this with tsconfig.node-only.json.
import { AuthBridgeAdapter, AuthBridgeError } from "../../dist/index.js";

export const adapter = AuthBridgeAdapter({ url: "http://127.0.0.1:7777", headers: { "x-tenant": "t" }, fetch });
export const isError = (e: unknown): e is AuthBridgeError => e instanceof AuthBridgeError;
