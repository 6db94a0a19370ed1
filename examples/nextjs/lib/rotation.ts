// Session rotation in the middleware (docs/rotation-in-apps.md): every so often the session gets a
// new token, so that a copied cookie stops being useful, without signing out a browser whose
// parallel requests still carry the old one. Runs on the Edge runtime: fetch only.
import { createActionURL } from "@auth/core";
import { AuthBridgeClient, type AuthBridgeClientMethods } from "authbridge-adapter";
import type { NextAuthConfig } from "next-auth";
import { NextRequest, NextResponse } from "next/server";
import { contextOf, rotationSettings, sharedAuthConfig } from "@/auth.config";

/**
 * Auth.js's session cookie for this request, named as Auth.js names it. @auth/core's
 * defaultCookies() (lib/utils/cookie.ts, not exported) calls it `authjs.session-token`, with the
 * `__Secure-` prefix and `secure` when `useSecureCookies`, which lib/init.ts defaults to "the URL
 * Auth.js builds for this request is https"; next-auth's middleware builds that URL with
 * createActionURL (exported: AUTH_URL when set, else the forwarded or Host header), as here. A
 * `cookies.sessionToken` in the configuration overrides both, as in core.
 */
function sessionCookie(config: NextAuthConfig, headers: Headers) {
  // next-auth passes x-forwarded-proto as the protocol, null included (createActionURL then falls
  // back to https); the type says string.
  const url = createActionURL("session", headers.get("x-forwarded-proto") as string, headers, process.env, config);
  const secure = config.useSecureCookies ?? url.protocol === "https:";
  return {
    name: config.cookies?.sessionToken?.name ?? `${secure ? "__Secure-" : ""}authjs.session-token`,
    options: {
      httpOnly: true,
      sameSite: "lax" as const,
      path: "/",
      secure,
      ...config.cookies?.sessionToken?.options,
    },
  };
}

let client: AuthBridgeClientMethods | undefined;

/** Created on first use, as the adapter is (auth.config.ts); the key stays in the server's environment. */
function authbridge(): AuthBridgeClientMethods {
  client ??= AuthBridgeClient({ url: process.env.AUTHBRIDGE_URL!, apiKey: process.env.AUTHBRIDGE_API_KEY });
  return client;
}

/**
 * What rotation did to one request: `rotated` only when this request replaced the token;
 * `unchanged` when it was not due (or the token is one a parallel request just replaced);
 * `none` without a session; `skipped` for a request that is not a read, or when authbridge could
 * not be asked; `off` when rotation is switched off.
 */
export type RotationOutcome = "rotated" | "unchanged" | "none" | "skipped" | "off";

export interface Rotation {
  outcome: RotationOutcome;
  /** The request the session check and the page must see: with the new token when rotated. */
  request: NextRequest;
  /** Request headers the page must get instead of the browser's (`NextResponse.next({ request })`). */
  pageHeaders: Headers | undefined;
  /** Sets the new cookie when rotated, and otherwise keeps Auth.js from re-setting the one sent. */
  finish(response: Response): Response;
}

/**
 * Rotates the session of `request` when it is due. One call to authbridge (rotateSessionIfDue),
 * made before Auth.js reads the session, so that the read and the page see the same token.
 */
export async function rotateIfDue(request: NextRequest): Promise<Rotation> {
  const settings = rotationSettings();
  if (!settings) return { outcome: "off", request, pageHeaders: undefined, finish: (response) => response };
  const config = sharedAuthConfig();
  const cookie = sessionCookie(config, request.headers);
  // Auth.js's middleware re-sets the session cookie on every answer, with the token the request
  // carried. That token may be the one a parallel request of this browser has just replaced
  // (authbridge honours it for the grace window): written back after that request's new cookie,
  // it would leave the browser on the old token, which signs it out once the window is over. So
  // with rotation on, the cookie is only ever written with a new token, by the request that made
  // it; Auth.js's clearing of a dead session's cookie still goes through.
  const unchanged = (outcome: RotationOutcome): Rotation => ({
    outcome,
    request,
    pageHeaders: undefined,
    finish: (response) => withoutCookie(response, cookie.name, "unless-clearing"),
  });
  const token = request.cookies.get(cookie.name)?.value;
  if (!token) return unchanged("none");
  // Only reads rotate: a POST may be a sign-out (or a server action that sets cookies), whose own
  // Set-Cookie must not meet a new token's; the next page load rotates instead.
  if (request.method !== "GET" && request.method !== "HEAD") return unchanged("skipped");
  // Nor Next.js's own fetch of a server action's redirect target: it renders the target with an
  // internal GET and drops that answer's Set-Cookie (next/dist/server/app-render/action-handler.js,
  // createRedirectRenderResult, `actionsForbiddenHeaders`), so a token made there never reaches the
  // browser, which keeps the old one past the grace window and is signed out. That fetch carries
  // the action's response headers as request headers, `x-action-redirect` among them.
  if (request.headers.has("x-action-redirect")) return unchanged("skipped");

  let result;
  try {
    result = await authbridge().rotateSessionIfDue(token, { ...settings, context: contextOf(request.headers) });
  } catch (error) {
    // authbridge unreachable: no rotation this time; the session check that follows decides. The
    // error names the method, status and request id, never the token.
    console.error(`session rotation skipped: ${String(error)}`);
    return unchanged("skipped");
  }
  if (result === null) return unchanged("none");
  if (!result.rotated) return unchanged("unchanged");

  const { sessionToken, expires } = result.session;
  // The rest of this request (Auth.js's read, the page, a server action) must use the new token:
  // the browser's cookie header as sent, with only the session cookie's pair replaced.
  const headers = new Headers(request.headers);
  const pairs = (request.headers.get("cookie") ?? "").split(";").map((pair) => pair.trim());
  headers.set(
    "cookie",
    pairs.map((pair) => (pair.startsWith(`${cookie.name}=`) ? `${cookie.name}=${sessionToken}` : pair)).join("; "),
  );
  return {
    outcome: "rotated",
    // Only what the session check reads (URL, method, headers): the body stays with the original
    // request, which the page or server action still receives, with `pageHeaders`.
    request: new NextRequest(request.url, { headers, method: request.method }),
    pageHeaders: headers,
    finish: (response) => {
      // Ours replaces Auth.js's (which carries the same new token) so that one place sets it. It
      // is set even if the check below refused the request: authbridge now knows only this token.
      const stripped = withoutCookie(response, cookie.name, "all");
      const out = new NextResponse(stripped.body, stripped);
      out.cookies.set(cookie.name, sessionToken, { ...cookie.options, expires });
      return out;
    },
  };
}

/** The response without the Set-Cookie lines for `name`: all of them, or those that give it a value. */
function withoutCookie(response: Response, name: string, which: "all" | "unless-clearing"): Response {
  const lines = response.headers.getSetCookie();
  // Auth.js clears a cookie with an empty value (and an expiry in the past).
  const value = (line: string) => line.slice(name.length + 1).split(";", 1)[0]!.trim();
  const drop = (line: string) => line.startsWith(`${name}=`) && (which === "all" || value(line) !== "");
  if (!lines.some(drop)) return response;
  const headers = new Headers(response.headers);
  headers.delete("set-cookie");
  for (const line of lines) if (!drop(line)) headers.append("set-cookie", line);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}
