/**
 * The clock roster schedules heartbeats with. Inject one to test timing
 * without sleeping; see `FakeClock` in `@roster/roster/testing`.
 *
 * @module
 */

/** An opaque timer handle returned by {@linkcode Clock.setTimeout}. */
export type TimerHandle = unknown;

/**
 * A source of time and timers. The heartbeat loop, its retries and the
 * memory driver's expiry all read time through one of these.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /**
   * Milliseconds from any origin on a clock that only moves forward, at
   * the pace of real time: a correction of the wall clock does not move it.
   * Leases are measured on it. Optional: `now()` stands in for it.
   */
  monotonic?(): number;
  /**
   * Calls `callback` once after `ms` milliseconds.
   *
   * @param callback The function to call.
   * @param ms The delay in milliseconds.
   * @returns A handle for {@linkcode Clock.clearTimeout}.
   */
  setTimeout(callback: () => void, ms: number): TimerHandle;
  /**
   * Cancels a timer; unknown or fired handles are ignored.
   *
   * @param handle A handle from {@linkcode Clock.setTimeout}.
   */
  clearTimeout(handle: TimerHandle): void;
}

/**
 * The real clock: `Date.now()` and the runtime's timers.
 *
 * @example
 * ```ts
 * import { systemClock } from "@roster/roster";
 * import assert from "node:assert/strict";
 *
 * assert.ok(Math.abs(systemClock.now() - Date.now()) < 1000);
 * ```
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as number),
};

/**
 * A clock's monotonic time, or its `now()` when it has none.
 *
 * @param clock The clock.
 * @returns Milliseconds on a clock that does not step back.
 */
export function monotonicNow(clock: Clock): number {
  return clock.monotonic ? clock.monotonic() : clock.now();
}
