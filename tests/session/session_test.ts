import assert from "node:assert/strict";
import {
  ConfigError,
  LeadershipLostError,
  Registry,
  RegistryStateError,
  RoundRobinPicker,
  WeightedPicker,
} from "../../mod.ts";
import { FakeClock, MemoryDriver } from "../../testing/mod.ts";

function fixture() {
  const clock = new FakeClock();
  const driver = new MemoryDriver({ clock });
  const make = (options: ConstructorParameters<typeof Registry>[0] = {}) =>
    new Registry({
      driver,
      clock,
      service: "api",
      heartbeatInterval: "1s",
      ttl: "3s",
      ...options,
    });
  const statusOf = async (id: string | undefined) =>
    (await driver.list({ env: "default" })).find((i) => i.id === id)?.status;
  return { clock, driver, make, statusOf };
}

Deno.test("drain marks the instance draining in the backend, keeps it listed for operators, and leaves after the linger", async () => {
  const { clock, make, statusOf } = fixture();
  await using a = make({ id: "a" });
  await using b = make({ id: "b" });
  await a.start();
  await b.start();
  const events: string[] = [];
  a.on("draining", ({ linger }) => events.push(`draining ${linger}`));
  a.on("deregistered", ({ removed }) => events.push(`deregistered ${removed}`));
  let drained = false;
  const draining = a.drain({ linger: "5s" }).then(() => drained = true);
  await clock.tickAsync(0);
  assert.equal(await statusOf("a"), "draining", "recorded before it lingers");
  assert.equal(a.status, "draining");
  assert.deepEqual((await b.instances("api")).map((i) => i.id), ["b"]);
  assert.deepEqual((await b.allInstances("api")).map((i) => i.id), ["a", "b"]);
  const picker = new RoundRobinPicker();
  const all = await b.allInstances("api");
  for (let i = 0; i < 4; i++) assert.equal(picker.pick(all)?.id, "b");
  assert.equal(new WeightedPicker().pick(all)?.id, "b");
  // A heartbeat during the linger keeps it draining, and the health check
  // cannot turn it back.
  a.setStatus("healthy");
  await clock.tickAsync(1_000);
  assert.equal(await statusOf("a"), "draining");
  assert.equal(drained, false);
  await clock.tickAsync(4_000);
  await draining;
  assert.equal(a.state, "stopped");
  assert.equal(await statusOf("a"), undefined);
  assert.deepEqual(events, ["draining 5000", "deregistered true"]);
  // Calling it again returns at once.
  await a.drain();
});

Deno.test("drain with stop: false stays registered as draining until stop(), and stop() cuts a linger short", async () => {
  const { clock, make, statusOf } = fixture();
  await using a = make({ id: "a" });
  await a.start();
  const draining = a.drain({ linger: "1s", stop: false });
  assert.equal(a.drain({ linger: "9s" }), draining, "one drain at a time");
  await clock.tickAsync(1_000);
  await draining;
  assert.equal(a.state, "running");
  await clock.tickAsync(10_000);
  assert.equal(await statusOf("a"), "draining");

  await using b = make({ id: "b" });
  await b.start();
  const long = b.drain({ linger: "1h" });
  await clock.tickAsync(0);
  await b.stop();
  await long;
  assert.equal(b.state, "stopped");
});

Deno.test("drain before start is refused; after stop it is a no-op", async () => {
  const { make } = fixture();
  const registry = make();
  await assert.rejects(registry.drain(), RegistryStateError);
  await assert.rejects(
    registry.drain({ linger: "soon" }),
    (error: unknown) =>
      error instanceof ConfigError && /'linger'/.test(error.message),
  );
  await registry.stop();
  await registry.drain();
});

Deno.test("a draining leader gives up leadership with the reason, and the next instance leads", async () => {
  const { clock, make } = fixture();
  await using a = make({ id: "a" });
  await using b = make({ id: "b" });
  await a.start();
  await b.start();
  const leading = a.standby();
  await clock.tickAsync(0);
  const leadership = await leading;
  const next = b.standby();
  const draining = a.drain({ linger: "2s" });
  await clock.tickAsync(0);
  assert.ok(leadership.signal.aborted);
  assert.ok(leadership.signal.reason instanceof LeadershipLostError);
  assert.match(String(leadership.signal.reason.message), /draining/);
  await clock.tickAsync(300);
  const second = await next;
  assert.ok(second.term > leadership.term);
  await clock.tickAsync(2_000);
  await draining;
});

Deno.test("maintenance takes the instance out until it is turned off or its ttl passes", async () => {
  const { clock, make, statusOf } = fixture();
  await using a = make({ id: "a" });
  await a.start();
  const events: string[] = [];
  a.on("maintenance", ({ on, reason }) => events.push(`${on} ${reason ?? ""}`));
  const on = a.setMaintenance(true, { ttl: "10m" });
  await clock.tickAsync(0);
  await on;
  assert.equal(await statusOf("a"), "maintenance");
  assert.deepEqual(await a.instances("api"), []);
  // The health check's word is kept, and shows once maintenance ends.
  a.setStatus("warning");
  await clock.tickAsync(1_000);
  assert.equal(await statusOf("a"), "maintenance");
  await clock.tickAsync(599_000);
  assert.equal(await statusOf("a"), "warning", "ended by its ttl");
  assert.deepEqual((await a.instances("api")).map((i) => i.id), ["a"]);

  const again = a.setMaintenance(true);
  await clock.tickAsync(0);
  await again;
  const off = a.setMaintenance(false);
  await clock.tickAsync(0);
  await off;
  assert.equal(await statusOf("a"), "warning");
  assert.deepEqual(events, [
    "true ",
    "false its ttl passed",
    "true ",
    "false turned off",
  ]);
});

Deno.test("maintenance refuses a bad ttl, a registry that is not running, and a draining instance", async () => {
  const { clock, make } = fixture();
  await using a = make({ id: "a" });
  await assert.rejects(a.setMaintenance(true), RegistryStateError);
  await a.start();
  await assert.rejects(
    a.setMaintenance(true, { ttl: 0 }),
    (error: unknown) =>
      error instanceof ConfigError &&
      /'ttl': 0 must be a duration between 1ms and 24h/.test(error.message),
  );
  await assert.rejects(
    a.setMaintenance(true, { ttl: "a while" }),
    ConfigError,
  );
  const draining = a.drain({ linger: "1s" });
  await clock.tickAsync(0);
  await assert.rejects(a.setMaintenance(true), /draining/);
  await a.setMaintenance(false);
  await clock.tickAsync(1_000);
  await draining;
  assert.equal(a.state, "stopped");
});

Deno.test("a warning instance stays listed and eligible, with a tenth of its weight; only unhealthy takes it out", async () => {
  const { clock, make } = fixture();
  await using a = make({ id: "a" });
  await using b = make({ id: "b" });
  await a.start();
  await b.start();
  a.setStatus("warning");
  await clock.tickAsync(0);
  const live = await b.instances("api");
  assert.deepEqual(live.map((i) => [i.id, i.status]), [
    ["a", "warning"],
    ["b", "healthy"],
  ]);
  const picker = new WeightedPicker();
  const picks = new Map<string, number>();
  for (let i = 0; i < 110; i++) {
    const id = picker.pick(live)?.id ?? "none";
    picks.set(id, (picks.get(id) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(picks), { a: 10, b: 100 });
  // It may lead: the oldest instance that takes work.
  const leading = a.standby();
  await clock.tickAsync(0);
  assert.ok((await leading).term > 0);
  assert.equal((await b.leader("api"))?.id, "a");
  a.setStatus("unhealthy");
  await clock.tickAsync(0);
  assert.deepEqual((await b.instances("api")).map((i) => i.id), ["b"]);
  assert.throws(
    () => a.setStatus("draining" as "healthy"),
    /use drain\(\) for 'draining'/,
  );
});
