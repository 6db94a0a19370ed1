// The example in a real browser (Debian's chromium driven by playwright-core) against the real
// `next start` build, the real authbridge binary and oauth2-mock-server, all started by ci.sh.
// Each step is a test; a screenshot of the page is saved after every step, pass or fail, and a
// step after a failed one is skipped rather than failing for the same reason.
//
// Environment (ci.sh sets it): APP_URL, AUTHBRIDGE_URL, AUTHBRIDGE_API_KEY, MAGIC_LINK_FILE,
// ARTIFACTS_DIR, and optionally CHROMIUM_PATH (default /usr/bin/chromium).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, rmSync, existsSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

import { launchBrowser } from "../../shared/browser.mjs";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the test through ci.sh`);
  return value;
};
const APP_URL = env("APP_URL");
const AUTHBRIDGE_URL = env("AUTHBRIDGE_URL");
const API_KEY = env("AUTHBRIDGE_API_KEY");
const MAGIC_LINK_FILE = env("MAGIC_LINK_FILE");
const ARTIFACTS_DIR = env("ARTIFACTS_DIR");

// What test/mock-oidc.mjs puts in its ID tokens (kept in step with MOCK_USER there).
const OIDC_USER = { sub: "johndoe", name: "Ada Mock", email: "ada.oidc@example.com" };
const EMAIL_USER = "grace.email@example.com";

let browser;
let page;
let shot = 0;
let broken = false;

/** One step of a flow: runs `fn`, then saves `NN-name.png` whatever happened. */
function step(name, fn) {
  it(name, async (t) => {
    if (broken) return t.skip("an earlier step failed");
    try {
      await fn();
    } catch (error) {
      broken = true;
      throw error;
    } finally {
      shot += 1;
      const file = join(ARTIFACTS_DIR, `${String(shot).padStart(2, "0")}-${name.replace(/[^a-z0-9]+/gi, "-")}.png`);
      await page.screenshot({ path: file, fullPage: true }).catch(() => {});
    }
  });
}

/** The management API of authbridge, with the API key (never in a URL). */
async function management(path) {
  const response = await fetch(`${AUTHBRIDGE_URL}${path}`, { headers: { authorization: `Bearer ${API_KEY}` } });
  assert.equal(response.status, 200, `GET ${path}`);
  return response.json();
}

/** Every session row of a user, expired ones included. */
const sessionsOf = (userId) => management(`/v1/users/${encodeURIComponent(userId)}/sessions?active=false`);

/** An adapter call, as next-auth makes it through authbridge-adapter. */
async function adapterCall(method, body) {
  const response = await fetch(`${AUTHBRIDGE_URL}/v1/adapter/${method}`, {
    method: "POST",
    headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 200, `adapter ${method}`);
  return response.json();
}

/** What the protected page shows. */
async function shownUser() {
  const text = async (id) => (await page.getByTestId(id).textContent())?.trim();
  return {
    id: await text("user-id"),
    name: await text("user-name"),
    email: await text("user-email"),
  };
}

/** The session read by the Edge route handler, straight through the adapter. */
async function edgeSession() {
  const response = await page.request.get(`${APP_URL}/api/edge-session`);
  assert.equal(response.status(), 200);
  return response.json();
}

/** The session as the browser sees it through next-auth's /api/auth/session (with its cookie). */
async function browserSession() {
  const response = await page.request.get(`${APP_URL}/api/auth/session`);
  assert.equal(response.status(), 200);
  return response.json();
}

async function sessionCookie() {
  const cookies = await page.context().cookies(APP_URL);
  return cookies.find((c) => c.name === "next-auth.session-token");
}

async function expectSignInPage() {
  await page.waitForURL((url) => url.pathname === "/api/auth/signin");
  assert.equal(new URL(page.url()).searchParams.get("callbackUrl"), "/protected");
}

/** Asks for a magic link on the sign-in page and returns the link sendVerificationRequest wrote. */
async function requestMagicLink(email) {
  rmSync(MAGIC_LINK_FILE, { force: true });
  await page.goto(`${APP_URL}/protected`);
  await expectSignInPage();
  await page.locator("#input-email-for-email-provider").fill(email);
  await page.getByRole("button", { name: "Sign in with Email" }).click();
  await page.waitForURL((url) => url.pathname === "/api/auth/verify-request");
  assert.ok(existsSync(MAGIC_LINK_FILE), "sendVerificationRequest wrote the link");
  const link = readFileSync(MAGIC_LINK_FILE, "utf8");
  const url = new URL(link);
  assert.equal(url.origin + url.pathname, `${APP_URL}/api/auth/callback/email`);
  assert.equal(url.searchParams.get("email"), email);
  assert.ok(url.searchParams.get("token"), "the link holds a token");
  return link;
}

async function signOut() {
  const token = (await sessionCookie())?.value;
  assert.ok(token, "signed in before signing out");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL((url) => url.pathname === "/");
  assert.equal(await sessionCookie(), undefined, "the session cookie is cleared");
  assert.deepEqual(await browserSession(), {}, "next-auth reports no session");
  assert.equal(await edgeSession(), null, "the Edge route finds no session");
  // The old cookie value (sent in a body, never a URL) no longer finds a session.
  assert.equal(await adapterCall("getSessionAndUser", { sessionToken: token }), null);
}

before(async () => {
  rmSync(ARTIFACTS_DIR, { recursive: true, force: true });
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  browser = await launchBrowser(chromium);
  page = await browser.newPage({ viewport: { width: 900, height: 700 } });
  page.setDefaultTimeout(20_000);
});

after(async () => {
  await browser?.close();
});

// The OIDC user, for the last flow.
let oidcUser;

describe("OpenID Connect sign-in (oauth2-mock-server)", () => {
  let user;

  step("protected page redirects to sign-in", async () => {
    await page.goto(`${APP_URL}/protected`);
    await expectSignInPage();
    assert.equal(await sessionCookie(), undefined);
  });

  step("oidc sign-in shows the user", async () => {
    await page.getByRole("button", { name: "Sign in with Mock OIDC" }).click();
    await page.waitForURL(`${APP_URL}/protected`);
    user = await shownUser();
    assert.equal(user.name, OIDC_USER.name);
    assert.equal(user.email, OIDC_USER.email);
    assert.ok((await sessionCookie())?.httpOnly, "an httpOnly session cookie is set");
    oidcUser = user;
  });

  step("oidc session and account are rows in authbridge", async () => {
    const sessions = await sessionsOf(user.id);
    assert.equal(sessions.length, 1, "exactly one session row for the user");
    assert.equal(sessions[0].userId, user.id);
    // The row is the browser's session: same user and expiry (ms precision, UTC) as next-auth reports.
    const session = await browserSession();
    assert.equal(session.user.id, user.id);
    assert.equal(sessions[0].expires, session.expires);
    // linkAccount stored the provider account that the ID token named.
    const linked = await adapterCall("getUserByAccount", { provider: "oidc", providerAccountId: OIDC_USER.sub });
    assert.equal(linked?.id, user.id);
    assert.equal(linked.email, OIDC_USER.email);
    // The Edge runtime reads the same row through the adapter.
    assert.deepEqual(await edgeSession(), {
      user: { id: user.id, name: OIDC_USER.name, email: OIDC_USER.email },
      expires: session.expires,
    });
  });

  step("reload keeps the oidc session", async () => {
    const cookie = await sessionCookie();
    await page.reload();
    assert.equal(new URL(page.url()).pathname, "/protected");
    assert.deepEqual(await shownUser(), user);
    assert.equal((await sessionCookie())?.value, cookie.value, "same session token");
    assert.equal((await sessionsOf(user.id)).length, 1, "no new session row");
  });

  step("oidc sign-out deletes the session row", async () => {
    await signOut();
    assert.deepEqual(await sessionsOf(user.id), []);
  });

  step("protected page redirects to sign-in after oidc sign-out", async () => {
    await page.goto(`${APP_URL}/protected`);
    await expectSignInPage();
  });
});

describe("email magic link (EmailProvider, link written to MAGIC_LINK_FILE)", () => {
  let link;
  let user;

  step("email sign-in sends a magic link", async () => {
    link = await requestMagicLink(EMAIL_USER);
  });

  step("magic link signs in the email user", async () => {
    await page.goto(link);
    await page.waitForURL(`${APP_URL}/protected`);
    user = await shownUser();
    assert.equal(user.email, EMAIL_USER);
    assert.equal(user.name, "(none)");
    const sessions = await sessionsOf(user.id);
    assert.equal(sessions.length, 1);
    assert.equal(sessions[0].expires, (await browserSession()).expires);
    const stored = await adapterCall("getUserByEmail", { email: EMAIL_USER });
    assert.equal(stored?.id, user.id);
    assert.ok(stored.emailVerified, "emailVerified is set by the magic link");
  });

  step("magic link used twice is refused", async () => {
    await page.goto(link);
    await page.waitForURL((url) => url.pathname === "/api/auth/error");
    assert.equal(new URL(page.url()).searchParams.get("error"), "Verification");
    await page.getByText("The sign in link is no longer valid.").waitFor();
    // The refusal signs nobody in and nobody out: still one session.
    assert.equal((await sessionsOf(user.id)).length, 1);
  });

  step("email user is still signed in after the refused link", async () => {
    await page.goto(`${APP_URL}/protected`);
    assert.deepEqual(await shownUser(), user);
  });

  step("email sign-out deletes the session row", async () => {
    await signOut();
    assert.deepEqual(await sessionsOf(user.id), []);
    await page.goto(`${APP_URL}/protected`);
    await expectSignInPage();
  });
});

describe("magic link to the OIDC user's address (v4 links by email: updateUser)", () => {
  let link;

  step("magic link for the oidc address is sent", async () => {
    assert.ok(oidcUser, "the OIDC flow ran");
    const before = await adapterCall("getUserByEmail", { email: OIDC_USER.email });
    assert.equal(before?.id, oidcUser.id);
    assert.equal(before.emailVerified, null, "an OAuth sign-up leaves emailVerified empty");
    link = await requestMagicLink(OIDC_USER.email);
  });

  step("magic link signs in the same oidc user", async () => {
    await page.goto(link);
    await page.waitForURL(`${APP_URL}/protected`);
    // Same row, name from the ID token kept; next-auth v4 set emailVerified through updateUser.
    assert.deepEqual(await shownUser(), oidcUser);
    const stored = await adapterCall("getUserByEmail", { email: OIDC_USER.email });
    assert.equal(stored?.id, oidcUser.id);
    assert.ok(!Number.isNaN(Date.parse(stored.emailVerified)), "emailVerified is a date now");
    assert.equal((await sessionsOf(oidcUser.id)).length, 1);
  });

  step("revoking the sessions through authbridge signs the browser out", async () => {
    // "Sign out everywhere" from another back end: the cookie stays, the row goes, and the next
    // page view finds no session.
    const response = await fetch(`${AUTHBRIDGE_URL}/v1/users/${encodeURIComponent(oidcUser.id)}/sessions`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { deleted: 1 });
    assert.ok(await sessionCookie(), "the browser still holds its cookie");
    await page.reload();
    await expectSignInPage();
    assert.deepEqual(await browserSession(), {});
    assert.equal(await edgeSession(), null);
  });
});
