import { listSessions } from "@/lib/authbridge";
import { signOutDeviceAction, signOutEverywhereAction } from "@/lib/actions";
import { requireSession } from "@/lib/session";
import { SignOutButton } from "../sign-out-button";

export default async function Devices({ searchParams }: { searchParams: Promise<Record<string, string | undefined>> }) {
  const session = await requireSession("/devices");
  const [sessions, params] = await Promise.all([listSessions(session.user.id), searchParams]);
  return (
    <>
      <h1>Your devices</h1>
      {params.signedOut && <p className="notice">That device is signed out.</p>}
      {params.signedOutEverywhere && (
        <p className="notice" data-testid="signed-out-everywhere">
          Signed out {params.signedOutEverywhere} other session(s).
        </p>
      )}
      <p>
        Sessions of <strong>{session.user.email}</strong> that have not expired, from authbridge&apos;s management API
        (ids only: tokens never leave the cookie).
      </p>
      <table>
        <thead>
          <tr>
            <th>Session</th>
            <th>Expires</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {sessions.map((row) => (
            <tr key={row.id} data-testid="device-row" data-session-id={row.id}>
              <td>
                <code>{row.id}</code> {row.id === session.sessionId && <span className="current">(this device)</span>}
              </td>
              <td>{row.expires.toISOString()}</td>
              <td>
                <form action={signOutDeviceAction}>
                  <input type="hidden" name="sessionId" value={row.id} />
                  <button type="submit">Sign out this device</button>
                </form>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form action={signOutEverywhereAction}>
        <button type="submit">Sign out everywhere else</button>
      </form>
      <p />
      <SignOutButton />
    </>
  );
}
