// How a session row reads to a person: the browser and OS (parsed by bowser, a maintained
// user-agent library), and times relative to now ("3 days ago").
import Bowser from "bowser";

/** "Firefox 128 on Windows 10", or null when there is no user agent to read. */
export function deviceName(userAgent: string | null): string | null {
  if (!userAgent) return null;
  const { browser, os } = Bowser.parse(userAgent);
  const name = browser.name ? [browser.name, browser.version?.split(".")[0]].filter(Boolean).join(" ") : null;
  const system = os.name ? [os.name, os.versionName ?? os.version].filter(Boolean).join(" ") : null;
  if (name && system) return `${name} on ${system}`;
  return name ?? system ?? "Unknown browser";
}

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ["year", 365 * 24 * 3600],
  ["month", 30 * 24 * 3600],
  ["week", 7 * 24 * 3600],
  ["day", 24 * 3600],
  ["hour", 3600],
  ["minute", 60],
];
const relative = new Intl.RelativeTimeFormat("en", { numeric: "auto" });

/** "3 days ago", "5 minutes ago", "just now". */
export function ago(date: Date, now: Date): string {
  const seconds = Math.round((now.getTime() - date.getTime()) / 1000);
  if (seconds < 60) return "just now";
  for (const [unit, size] of UNITS) {
    if (seconds >= size) return relative.format(-Math.floor(seconds / size), unit);
  }
  return "just now";
}
