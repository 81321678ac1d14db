import assert from "node:assert/strict";
import { ConfigError, Registry, WaitForTimeoutError } from "../../mod.ts";
import { FakeClock, MemoryDriver } from "../../testing/mod.ts";

function fixture() {
  const clock = new FakeClock();
  const driver = new MemoryDriver({ clock });
  const timing = { driver, clock, heartbeatInterval: "1s", ttl: "3s" };
  const observer = new Registry(timing);
  const member = (id: string, meta: Record<string, string> = {}) =>
    new Registry({ ...timing, service: "db", id, meta });
  return {
    clock,
    observer,
    member,
    async [Symbol.asyncDispose]() {
      await observer.stop();
    },
  };
}

Deno.test("waitFor resolves with the matching instances, oldest first, once enough are live", async () => {
  await using f = fixture();
  await using a = f.member("db-a", { zone: "eu" });
  await a.start();
  const waiting = f.observer.waitFor("db", {
    min: 2,
    filter: { meta: { zone: "eu" } },
  });
  await using us = f.member("db-us", { zone: "us" });
  await us.start();
  await using b = f.member("db-b", { zone: "eu" });
  await b.start();
  assert.deepEqual((await waiting).map((i) => i.id), ["db-a", "db-b"]);
});

Deno.test("waitFor times out on the registry's clock, saying how many were live", async () => {
  await using f = fixture();
  await using a = f.member("db-a");
  await a.start();
  const waiting = f.observer.waitFor("db", { min: 3, timeout: "10s" });
  const settled = waiting.then(() => "resolved", (error) => error);
  await f.clock.tickAsync(9_000);
  assert.equal(
    await Promise.race([settled, Promise.resolve("pending")]),
    "pending",
  );
  await f.clock.tickAsync(1_000);
  const error = await settled;
  assert.ok(error instanceof WaitForTimeoutError, String(error));
  assert.equal(error.live, 1);
  assert.equal(error.min, 3);
});

Deno.test("waitFor rejects a min that is not a whole number of at least 1, and ends with its signal", async () => {
  await using f = fixture();
  for (const min of [0, 1.5, -1]) {
    await assert.rejects(
      f.observer.waitFor("db", { min }),
      (error: unknown) => error instanceof ConfigError && error.field === "min",
    );
  }
  const controller = new AbortController();
  const waiting = f.observer.waitFor("db", { signal: controller.signal });
  controller.abort(new Error("shutting down"));
  await assert.rejects(waiting, /shutting down/);
});
