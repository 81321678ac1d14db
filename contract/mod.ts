/**
 * For driver authors: the contract a backend implements, and the one
 * conformance suite every driver passes. A driver is small: it stores
 * registrations with an expiry, keeps a change log, grants leadership terms,
 * and, where the backend has pub/sub, carries messages; retries, jitter,
 * views and elections live in the core.
 *
 * @example Run the shared suite against your driver
 * ```ts
 * import { testDriverConformance } from "@roster/roster/driver";
 * import { FakeClock, MemoryDriver } from "@roster/roster/testing";
 *
 * Deno.test("my driver conforms", async (t) => {
 *   const clock = new FakeClock();
 *   const driver = new MemoryDriver({ clock });
 *   await testDriverConformance((name, fn) => t.step(name, fn), {
 *     driver,
 *     peer: driver,
 *     ttl: 1000,
 *     advance: (ms) => clock.tickAsync(ms),
 *     stored: (env) => Promise.resolve(driver.stored(env)),
 *     trimChanges: (env) => Promise.resolve(driver.trimChanges(env)),
 *   });
 * });
 * ```
 *
 * @module
 */

export {
  type BackendStatus,
  type Change,
  type ChangeBatch,
  type ChangeReason,
  type Driver,
  type DriverLimitations,
  type HeartbeatResult,
  instanceOf,
  type ListQuery,
  MAX_TTL_MS,
  MIN_TTL_MS,
  type RecordedTimes,
  type Registration,
  type RegistrationKey,
  type Snapshot,
} from "./driver.ts";
export {
  type ConformanceHarness,
  type ConformanceTest,
  testDriverConformance,
} from "./conformance.ts";
// The contract's types (the instance's among them), so this module
// documents completely on its own.
export type * from "./contract_types.ts";
