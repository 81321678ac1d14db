import assert from "node:assert/strict";
import { sleepUnlessAborted, withDeadline } from "../_deadline.ts";
import { TimeoutError } from "../mod.ts";
import { FakeClock } from "../testing/mod.ts";

Deno.test("withDeadline settles as the work does, or rejects when the clock passes the deadline", async () => {
  const clock = new FakeClock();
  assert.equal(
    await withDeadline(Promise.resolve(7), 100, clock, () => new Error("x")),
    7,
  );
  assert.equal(clock.pendingTimers, 0, "no timer left behind");
  const never = new Promise<number>(() => {});
  const late = withDeadline(
    never,
    100,
    clock,
    () => new TimeoutError("work", 100),
  );
  await clock.tickAsync(99);
  clock.tick(1);
  await assert.rejects(late, TimeoutError);
  assert.equal(clock.pendingTimers, 0);
});

Deno.test("sleepUnlessAborted waits on the clock, ends early on abort, and leaves no timer", async () => {
  const clock = new FakeClock();
  let woke = false;
  const waiting = sleepUnlessAborted(clock, 1_000, new AbortController().signal)
    .then(() => woke = true);
  await clock.tickAsync(999);
  assert.equal(woke, false);
  await clock.tickAsync(1);
  await waiting;
  assert.equal(clock.pendingTimers, 0);

  const controller = new AbortController();
  const cut = sleepUnlessAborted(clock, 60_000, controller.signal);
  controller.abort();
  await cut;
  assert.equal(clock.pendingTimers, 0);
  await sleepUnlessAborted(clock, 0, new AbortController().signal);
  await sleepUnlessAborted(clock, 5, controller.signal);
  assert.equal(clock.pendingTimers, 0);
});
