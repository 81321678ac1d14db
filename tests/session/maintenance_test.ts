import assert from "node:assert/strict";
import { MaintenanceTimer } from "../../session/maintenance.ts";
import { FakeClock } from "../../testing/mod.ts";

Deno.test("maintenance ends once its ttl passes, and not when cancelled or replaced", async () => {
  const clock = new FakeClock();
  const timer = new MaintenanceTimer(clock);
  const ended: string[] = [];
  const until = timer.start(1_000, () => ended.push("first"));
  assert.equal(until, clock.now() + 1_000);
  await clock.tickAsync(999);
  assert.deepEqual([...ended], []);
  await clock.tickAsync(1);
  assert.deepEqual([...ended], ["first"]);
  // A new start replaces the one before; a cancel ends it silently.
  timer.start(1_000, () => ended.push("replaced"));
  timer.start(2_000, () => ended.push("second"));
  await clock.tickAsync(1_500);
  assert.deepEqual([...ended], ["first"]);
  timer.cancel();
  await clock.tickAsync(10_000);
  assert.deepEqual([...ended], ["first"]);
  timer.cancel(); // twice is fine
});
