// The session-management half of authbridge (list, revoke, sign out everywhere), called only from
// server code: the API key comes from the server's environment and never reaches the browser.
import "server-only";

export type DeviceSession = { id: string; userId: string; expires: Date };

async function call(method: "GET" | "DELETE", path: string): Promise<unknown> {
  const base = process.env.AUTHBRIDGE_URL;
  if (!base) throw new Error("AUTHBRIDGE_URL is not set");
  const headers: Record<string, string> = {};
  if (process.env.AUTHBRIDGE_API_KEY) headers.authorization = `Bearer ${process.env.AUTHBRIDGE_API_KEY}`;
  const response = await fetch(new URL(path.slice(1), base.endsWith("/") ? base : `${base}/`), {
    method,
    headers,
    cache: "no-store",
  });
  // The status and request id are enough to find the request in authbridge's log; the body is
  // not quoted (it would be in this app's logs and error pages).
  if (!response.ok) {
    throw new Error(
      `authbridge ${method} ${path.split("?")[0]}: HTTP ${response.status} (request ${response.headers.get("x-request-id")})`,
    );
  }
  return response.json();
}

const segment = encodeURIComponent;

/** The user's sessions that have not expired, newest expiry first. */
export async function listSessions(userId: string): Promise<DeviceSession[]> {
  const rows = (await call("GET", `/v1/users/${segment(userId)}/sessions?active=true`)) as {
    id: string;
    userId: string;
    expires: string;
  }[];
  return rows.map((row) => ({ ...row, expires: new Date(row.expires) }));
}

/** Deletes one session by id (not by token: the id is what the devices page shows). */
export async function revokeSession(sessionId: string): Promise<void> {
  await call("DELETE", `/v1/sessions/${segment(sessionId)}`);
}

/** Deletes every session of the user except `keepSessionId`; returns how many went. */
export async function revokeOtherSessions(userId: string, keepSessionId: string): Promise<number> {
  const answer = (await call("DELETE", `/v1/users/${segment(userId)}/sessions?except=${segment(keepSessionId)}`)) as {
    deleted: number;
  };
  return answer.deleted;
}
