/**
 * The one conformance suite every driver must pass, written once and run
 * against each driver.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Change, Driver } from "./driver.ts";
import type { Instance } from "../instance.ts";
import {
  CONFORMANCE_CASES,
  type ConformanceContext,
} from "./conformance_cases.ts";

/** What the conformance suite needs from a driver under test. */
export interface ConformanceHarness {
  /** The driver under test. */
  driver: Driver;
  /**
   * A second driver on the same backend, as another process would have;
   * the same driver when the backend lives in one process.
   */
  peer: Driver;
  /** The ttl the suite registers with, in ms. */
  ttl: number;
  /**
   * How long past its expiry an entry may still be listed, in ms: for a
   * backend that revokes expired entries on a schedule of its own (etcd,
   * about twice a second). Default 50.
   */
  expirySlackMs?: number;
  /**
   * Lets `ms` pass on the backend's clock: a fake clock's tick for the
   * memory driver, a real sleep for a real server.
   */
  advance(ms: number): Promise<void>;
  /** How many entries the backend still stores for an env, expired or not. */
  stored(env: string): Promise<number>;
  /** Drops every recorded change of an env, as trimming the log would. */
  trimChanges(env: string): Promise<void>;
}

/**
 * Runs one named case of the suite; resolves when it passed, rejects when it
 * failed. `Deno.test`'s `t.step` and `node:test`'s `t.test` both fit.
 */
export type ConformanceTest = (
  name: string,
  fn: () => Promise<void>,
) => unknown;

/**
 * Runs the driver conformance suite, one case at a time through `test`: a
 * plain `(name, fn)` function, so it runs under `Deno.test` (pass
 * `(name, fn) => t.step(name, fn)`) and `node:test` (pass
 * `(name, fn) => t.test(name, fn)`) alike. Each case
 * works in an env of its own, so the backend needs no flushing between them.
 *
 * @param test Runs one named case and resolves when it passed.
 * @param harness The driver and how to move its clock.
 * @returns A promise that resolves when every step has run.
 *
 * @example
 * ```ts
 * import { FakeClock, MemoryDriver, testDriverConformance } from "@roster/roster/testing";
 *
 * Deno.test("memory driver conforms", async (t) => {
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
 */
export async function testDriverConformance(
  test: ConformanceTest,
  harness: ConformanceHarness,
): Promise<void> {
  const context = conformanceContext(harness);
  for (const one of CONFORMANCE_CASES) {
    if (one.applies && !one.applies(context)) continue;
    await test(one.name, () => one.run(context));
  }
}

/** The drivers, timing and helpers every case gets. */
function conformanceContext(harness: ConformanceHarness): ConformanceContext {
  const { driver, peer, ttl } = harness;
  const slack = harness.expirySlackMs ?? 50;
  const newEnv = () => `conformance-${crypto.randomUUID().slice(0, 8)}`;
  const wait = (_env: string, ms: number) => harness.advance(ms);
  // A backend that records no beat times lists an instance as read alive
  // then: its times are the read's, its lease the same.
  const unrecorded = driver.limitations?.beatTimesUnrecorded === true;
  const asListed = (listed: Instance | undefined, stored: Instance) => {
    if (!unrecorded || !listed) return stored;
    assert.ok(listed.heartbeatAt >= stored.heartbeatAt, "read after it beat");
    return {
      ...stored,
      heartbeatAt: listed.heartbeatAt,
      expiresAt: listed.heartbeatAt + stored.expiresAt - stored.heartbeatAt,
    };
  };
  // A backend may let one process per env purge at a time (a purge token),
  // so a purge call can leave the work to one made a moment ago: call it
  // until the condition holds, as a watcher keeps calling it.
  const purgeUntil = async (env: string, done: () => Promise<boolean>) => {
    for (let attempt = 0; attempt < 40; attempt++) {
      await peer.purge(env);
      if (await done()) return;
      await harness.advance(Math.max(1, Math.floor(ttl / 4)));
    }
    assert.fail(`env ${env} was not purged`);
  };
  const summary = (batch: { changes: Change[] }, service = "api") =>
    batch.changes.filter((c) => c.instance.service === service).map((c) =>
      `${c.type} ${c.reason} ${c.instance.id}`
    );
  return {
    driver,
    peer,
    ttl,
    slack,
    harness,
    newEnv,
    wait,
    asListed,
    purgeUntil,
    summary,
  };
}
