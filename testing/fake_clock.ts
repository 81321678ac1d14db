/**
 * A clock whose time moves only when a test says so.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../clock.ts";

interface Timer {
  id: number;
  at: number;
  callback: () => void;
}

/**
 * A {@linkcode Clock} for tests: `now()` stands still until `tick()` or
 * `tickAsync()` moves it, and timers fire in order as it passes them. No
 * real timer is ever left behind, so the leak sanitizers stay quiet.
 *
 * @example Drive a registry's heartbeats without sleeping
 * ```ts
 * import { Registry } from "@roster/roster";
 * import { FakeClock, MemoryDriver } from "@roster/roster/testing";
 * import assert from "node:assert/strict";
 *
 * const clock = new FakeClock();
 * const driver = new MemoryDriver({ clock });
 * await using registry = new Registry({
 *   driver, clock, service: "api", heartbeatInterval: "1s", ttl: "3s",
 * });
 * await registry.start();
 * await clock.tickAsync(10_000);
 * assert.equal((await registry.instances()).length, 1);
 * ```
 */
export class FakeClock implements Clock {
  #now: number;
  #nextId = 1;
  #timers: Timer[] = [];

  /**
   * Creates a clock that reads `start`.
   *
   * @param start The starting time in ms since the epoch.
   */
  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  /**
   * The current fake time.
   *
   * @returns Milliseconds since the epoch.
   */
  now(): number {
    return this.#now;
  }

  /**
   * Schedules `callback` at `now() + ms`.
   *
   * @param callback The function to call.
   * @param ms The delay.
   * @returns A handle for `clearTimeout`.
   */
  setTimeout(callback: () => void, ms: number): TimerHandle {
    const timer = {
      id: this.#nextId++,
      at: this.#now + Math.max(0, ms),
      callback,
    };
    this.#timers.push(timer);
    return timer.id;
  }

  /**
   * Cancels a pending timer.
   *
   * @param handle The handle from `setTimeout`.
   */
  clearTimeout(handle: TimerHandle): void {
    this.#timers = this.#timers.filter((timer) => timer.id !== handle);
  }

  /** The number of timers still pending. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  /**
   * Moves time forward by `ms`, firing due timers synchronously.
   *
   * @param ms How far to move.
   */
  tick(ms: number): void {
    const end = this.#now + ms;
    for (let timer = this.#due(end); timer; timer = this.#due(end)) {
      this.#now = timer.at;
      timer.callback();
    }
    this.#now = end;
  }

  /**
   * Moves time forward by `ms`, firing due timers and letting the promise
   * work each one starts settle before the next fires.
   *
   * @param ms How far to move.
   * @returns A promise that resolves once time has moved.
   */
  async tickAsync(ms: number): Promise<void> {
    const end = this.#now + ms;
    await settle();
    for (let timer = this.#due(end); timer; timer = this.#due(end)) {
      this.#now = timer.at;
      timer.callback();
      await settle();
    }
    this.#now = end;
    await settle();
  }

  /**
   * Runs the timers that are due now, after letting pending promises settle.
   *
   * @returns A promise that resolves when nothing is due.
   */
  runDue(): Promise<void> {
    return this.tickAsync(0);
  }

  #due(end: number): Timer | undefined {
    let first: Timer | undefined;
    for (const timer of this.#timers) {
      if (
        timer.at <= end &&
        (!first || timer.at < first.at ||
          (timer.at === first.at && timer.id < first.id))
      ) first = timer;
    }
    if (first) this.#timers.splice(this.#timers.indexOf(first), 1);
    return first;
  }
}

/** Lets chains of resolved promises run to their end. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
