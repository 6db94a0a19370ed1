// Compiled with `tsc --noEmit` (npm run typecheck) against the built declarations, which is what an
// application sees: the adapter must satisfy both Auth.js v5's and next-auth v4's Adapter types,
// with every optional method present.
import type { Adapter as AuthCoreAdapter } from "@auth/core/adapters";
import type { Adapter as NextAuthV4Adapter } from "next-auth/adapters";
import { AuthBridgeAdapter } from "../../dist/index.js";

const adapter = AuthBridgeAdapter({ url: "http://127.0.0.1:7777", apiKey: "key" });

export const v5: AuthCoreAdapter = adapter;
export const v5Complete: Required<AuthCoreAdapter> = adapter;
export const v4: NextAuthV4Adapter = adapter;
export const v4Complete: Required<NextAuthV4Adapter> = adapter;
// As the configuration in the README writes it.
export const inline: AuthCoreAdapter = AuthBridgeAdapter({ url: "http://127.0.0.1:7777" });
