import { authbridge } from "@/lib/authbridge";
import { signOutDeviceAction, signOutEverywhereAction } from "@/lib/actions";
import { ago, deviceName } from "@/lib/devices";
import { requireSession } from "@/lib/session";
import { SignOutButton } from "../sign-out-button";

export default async function Devices({ searchParams }: { searchParams: Promise<Record<string, string | undefined>> }) {
  const session = await requireSession("/devices");
  const [sessions, params] = await Promise.all([authbridge().listSessions(session.user.id), searchParams]);
  const now = new Date();
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
        Where <strong>{session.user.email}</strong> is signed in, from authbridge&apos;s management API (tokens never
        leave the cookie).
      </p>
      <ul className="devices">
        {sessions.map((row) => (
          <li key={row.id} data-testid="device-row" data-session-id={row.id}>
            <div>
              <strong data-testid="device-name">{deviceName(row.userAgent) ?? "Unknown device"}</strong>
              {row.id === session.sessionId && (
                <span className="current" data-testid="this-device">
                  {" "}
                  · this device
                </span>
              )}
              <div className="details">
                <span data-testid="device-ip">{row.ipAddress ?? "unknown address"}</span>
                {" · "}
                <span data-testid="device-signed-in">
                  {row.createdAt ? `signed in ${ago(row.createdAt, now)}` : "sign-in time unknown"}
                </span>
                {" · "}
                <span data-testid="device-last-active">
                  {row.updatedAt ? `last active ${ago(row.updatedAt, now)}` : "last activity unknown"}
                </span>
              </div>
            </div>
            <form action={signOutDeviceAction}>
              <input type="hidden" name="sessionId" value={row.id} />
              <button type="submit">Sign out this device</button>
            </form>
          </li>
        ))}
      </ul>
      <form action={signOutEverywhereAction}>
        <button type="submit">Sign out everywhere else</button>
      </form>
      <p />
      <SignOutButton />
    </>
  );
}
