import assert from "node:assert/strict";
import { withDeadline } from "../_deadline.ts";
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
