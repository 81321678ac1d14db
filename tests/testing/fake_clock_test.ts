import assert from "node:assert/strict";
import { FakeClock } from "../../testing/fake_clock.ts";

Deno.test("FakeClock fires timers in time order as it ticks, and cancels them", () => {
  const clock = new FakeClock(0);
  const fired: string[] = [];
  clock.setTimeout(() => fired.push("b@20"), 20);
  clock.setTimeout(() => fired.push("a@10"), 10);
  const cancelled = clock.setTimeout(() => fired.push("never"), 15);
  clock.clearTimeout(cancelled);
  clock.tick(15);
  assert.deepEqual(fired, ["a@10"]);
  assert.equal(clock.now(), 15);
  clock.tick(10);
  assert.deepEqual(fired, ["a@10", "b@20"]);
  assert.equal(clock.pendingTimers, 0);
});

Deno.test("FakeClock.tickAsync lets promise work settle between timers", async () => {
  const clock = new FakeClock(0);
  const seen: number[] = [];
  const loop = () =>
    clock.setTimeout(async () => {
      await Promise.resolve();
      seen.push(clock.now());
      if (seen.length < 3) loop();
    }, 100);
  loop();
  await clock.tickAsync(1000);
  assert.deepEqual(seen, [100, 200, 300]);
});
