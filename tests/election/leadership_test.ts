import assert from "node:assert/strict";
import { Registry, systemClock } from "../../mod.ts";
import { FlakyDriver } from "../_flaky_driver.ts";
import { eventually } from "../discovery/_discovery_suite.ts";

const OPTIONS = { service: "cron", heartbeatInterval: 100, ttl: 400 } as const;

Deno.test("a leader whose heartbeats fail for longer than its lease is told to step down", async () => {
  const driver = new FlakyDriver(systemClock);
  await using leader = new Registry({ ...OPTIONS, driver, id: "leader" });
  await leader.start();
  const leadership = await leader.standby();
  assert.equal(leadership.fencing, leadership.term);
  assert.equal(leadership.valid(), true);
  let lastBeat = Date.now();
  leader.on("heartbeat", () => lastBeat = Date.now());
  driver.failWith = new Error("partitioned");
  let steppedDownAt = 0;
  leadership.signal.addEventListener("abort", () => steppedDownAt = Date.now());
  await eventually("step down", () => leadership.signal.aborted, 2_000);
  // The lease lasts 400ms from the last accepted beat; the leader steps down
  // a heartbeat timeout (50ms) before it can run out.
  const held = steppedDownAt - lastBeat;
  assert.ok(
    held >= 300 && held < 400,
    `stepped down ${held}ms after the last beat`,
  );
  assert.match(
    String(leadership.signal.reason),
    /heartbeats failed for longer than the lease can last/,
  );
  driver.failWith = undefined;
});

Deno.test("a leader whose lease was lost and re-registered is told to step down", async () => {
  const driver = new FlakyDriver(systemClock);
  await using leader = new Registry({ ...OPTIONS, driver, id: "leader" });
  await leader.start();
  const leadership = await leader.standby();
  await driver.forgetAll();
  await eventually("step down", () => leadership.signal.aborted, 2_000);
  assert.match(
    String(leadership.signal.reason),
    /the instance left the view|registered again with a new seq/,
  );
  // It may lead again, under a new, higher term.
  const again = await leader.standby();
  assert.ok(again.term > leadership.term);
});

Deno.test("a stopped registry ends its leadership", async () => {
  const driver = new FlakyDriver(systemClock);
  const leader = new Registry({ ...OPTIONS, driver, id: "leader" });
  await leader.start();
  const leadership = await leader.standby();
  await leader.stop();
  assert.equal(leadership.signal.aborted, true);
  await assert.rejects(leader.standby(), /the registry is stopped/);
});

Deno.test("while the backend is unreachable the cached view is stale but keeps every instance", async () => {
  const driver = new FlakyDriver(systemClock);
  await using a = new Registry({ ...OPTIONS, driver, id: "a" });
  await using b = new Registry({ ...OPTIONS, driver, id: "b" });
  await using cached = new Registry({ ...OPTIONS, driver, cache: true });
  const states: string[] = [];
  cached.on("view", ({ state }) => states.push(state));
  await a.start();
  await b.start();
  await eventually(
    "both",
    async () => (await cached.instances("cron")).length === 2,
  );
  driver.failWith = new Error("Redis is down");
  await eventually("stale", () => cached.viewState === "stale", 3_000);
  await new Promise((resolve) => setTimeout(resolve, 600));
  // Past every ttl, and yet no instance was dropped: self-preservation.
  assert.deepEqual((await cached.instances("cron")).map((i) => i.id), [
    "a",
    "b",
  ]);
  driver.failWith = undefined;
  await eventually("live", () => cached.viewState === "live", 3_000);
  assert.deepEqual(states, ["live", "stale", "live"]);
  // Both expired meanwhile and registered again, in either order.
  assert.deepEqual(
    (await cached.instances("cron")).map((i) => i.id).sort(),
    ["a", "b"],
  );
});
