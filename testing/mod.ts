/**
 * Helpers for testing code that uses roster: a clock that moves only when
 * told, the in-memory driver, and the conformance suite for driver authors.
 *
 * @example Test expiry without sleeping
 * ```ts
 * import { Registry } from "@roster/roster";
 * import { FakeClock, MemoryDriver } from "@roster/roster/testing";
 * import assert from "node:assert/strict";
 *
 * const clock = new FakeClock();
 * const driver = new MemoryDriver({ clock });
 * const registry = new Registry({
 *   driver, clock, service: "api", heartbeatInterval: "1s", ttl: "3s",
 * });
 * await registry.start();
 * await clock.tickAsync(60_000);
 * assert.equal((await registry.instances("api")).length, 1);
 * await registry.stop();
 * assert.equal((await registry.instances("api")).length, 0);
 * ```
 *
 * @module
 */

export { FakeClock } from "./fake_clock.ts";
export {
  MemoryDriver,
  type MemoryDriverOptions,
} from "../drivers/memory/mod.ts";
export {
  type ConformanceHarness,
  type ConformanceTest,
  testDriverConformance,
} from "../contract/conformance.ts";

// The contract's types this module's API names, so its documentation is
// complete on its own.
export type * from "../contract/contract_types.ts";
