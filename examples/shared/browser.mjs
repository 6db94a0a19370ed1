// Debian's chromium, as both examples' browser tests launch it (playwright-core cannot download
// a browser of its own here). `chromium` is playwright-core's launcher, passed in by the caller:
// this folder has no node_modules, each example installs playwright-core itself.
// CHROMIUM_PATH overrides the executable (default /usr/bin/chromium).
export function launchBrowser(chromium) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
      "--disable-sync",
      "--disable-quic",
    ],
  });
}
