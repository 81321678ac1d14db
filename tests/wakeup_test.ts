import assert from "node:assert/strict";
import { Wakeup } from "../_wakeup.ts";

Deno.test("a wake-up that comes before the wait is kept, and only one", async () => {
  const wakeup = new Wakeup();
  wakeup.wake();
  wakeup.wake();
  await wakeup.wait();
  let woken = false;
  const waiting = wakeup.wait().then(() => woken = true);
  await Promise.resolve();
  assert.equal(woken, false, "the second wake-up was not kept twice");
  wakeup.wake();
  await waiting;
  assert.equal(woken, true);
});
