import assert from "node:assert/strict";
import { type Clock, monotonicNow, systemClock } from "../clock.ts";

Deno.test("systemClock fires a timer once and cancels one that has not fired", async () => {
  const fired: string[] = [];
  await new Promise<void>((resolve) => {
    const cancelled = systemClock.setTimeout(() => fired.push("cancelled"), 5);
    systemClock.clearTimeout(cancelled);
    systemClock.setTimeout(() => {
      fired.push("fired");
      resolve();
    }, 10);
  });
  assert.deepEqual(fired, ["fired"]);
  // A handle that already fired, or none at all, is ignored.
  systemClock.clearTimeout(undefined);
});

Deno.test("monotonicNow uses a clock's monotonic time, and its now() when it has none", () => {
  const timers = { setTimeout: () => 0, clearTimeout: () => {} };
  const both: Clock = { now: () => 5_000, monotonic: () => 7, ...timers };
  const wallOnly: Clock = { now: () => 5_000, ...timers };
  assert.equal(monotonicNow(both), 7);
  assert.equal(monotonicNow(wallOnly), 5_000);
  const a = monotonicNow(systemClock);
  assert.ok(monotonicNow(systemClock) >= a);
});
