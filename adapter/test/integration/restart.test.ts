// Restarts without signed-out users: the adapter reads a valid session in a loop while the service
// is restarted on its port (a new process started with --reuse-port, then the old one SIGTERMed).
// With the default retries no read may fail or come back null; the same loop with retries off
// shows what they prevent (both counts are printed). SQLite: two processes share the file.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";

import { AuthBridgeAdapter, type RetryOptions } from "../../src/index.ts";
import { startRestartable, type RestartableService } from "./service.ts";

const READERS = 8;
const RESTARTS = 3;

describe("adapter reads across restarts of the service", () => {
  let service: RestartableService;
  let sessionToken = "";

  before(async () => {
    service = await startRestartable();
    const adapter = AuthBridgeAdapter({ url: service.url, apiKey: service.apiKey });
    const user = await adapter.createUser({ email: `restart-${randomUUID()}@example.com`, emailVerified: null });
    const session = await adapter.createSession({
      sessionToken: randomUUID(),
      userId: user.id,
      expires: new Date(Date.now() + 86_400_000),
    });
    sessionToken = session.sessionToken;
  });
  after(async () => {
    await service?.stop();
  });

  /** READERS loops of getSessionAndUser while the service restarts RESTARTS times. */
  async function readThroughRestarts(retry: RetryOptions | undefined) {
    const adapter = AuthBridgeAdapter({ url: service.url, apiKey: service.apiKey, ...(retry ? { retry } : {}) });
    const counts = { reads: 0, failed: 0, signedOut: 0 };
    const failures = new Map<string, number>();
    let running = true;
    const reader = async () => {
      while (running) {
        try {
          const found = await adapter.getSessionAndUser(sessionToken);
          counts.reads++;
          if (found === null) counts.signedOut++;
        } catch (error) {
          counts.failed++;
          const code = (error as { code?: string }).code ?? String(error);
          failures.set(code, (failures.get(code) ?? 0) + 1);
        }
      }
    };
    const readers = Array.from({ length: READERS }, reader);
    await new Promise((ok) => setTimeout(ok, 300));
    for (let i = 0; i < RESTARTS; i++) {
      await service.restart();
      await new Promise((ok) => setTimeout(ok, 300));
    }
    running = false;
    await Promise.all(readers);
    return { ...counts, failures: Object.fromEntries(failures) };
  }

  test("without retries, restarts fail some reads (printed, not asserted: it depends on timing)", async () => {
    const result = await readThroughRestarts({ attempts: 0 });
    console.log(`restart, retries off: ${JSON.stringify(result)}`);
    assert.ok(result.reads > 0);
  });

  test("with the default retries, no read fails and none says signed out", async () => {
    const result = await readThroughRestarts(undefined);
    console.log(`restart, default retries: ${JSON.stringify(result)}`);
    assert.ok(result.reads > 0);
    assert.equal(result.failed, 0, `failed reads: ${JSON.stringify(result.failures)}\n${service.logs()}`);
    assert.equal(result.signedOut, 0, "a valid session read as signed out");
  });
});
