// Assertions shared by the unit and integration tests.

import assert from "node:assert/strict";

import { AuthBridgeError } from "../src/index.ts";

/** Awaits `promise`, which must reject with an AuthBridgeError, and returns that error. */
export async function rejection(promise: Promise<unknown>): Promise<AuthBridgeError> {
  try {
    const value = await promise;
    assert.fail(`expected a throw, got ${JSON.stringify(value)}`);
  } catch (error) {
    assert.ok(error instanceof AuthBridgeError, `expected an AuthBridgeError, got ${String(error)}`);
    return error;
  }
}
