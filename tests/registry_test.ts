import assert from "node:assert/strict";
import {
  AlreadyRegisteredError,
  ConfigError,
  Registry,
  RegistryStateError,
} from "../mod.ts";
import { FakeClock, MemoryDriver } from "../testing/mod.ts";
import { FlakyDriver } from "./_flaky_driver.ts";
import { captureLogs } from "./_log_capture.ts";

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
  return { clock, driver, make };
}

Deno.test("start registers every declared field and the backend's times", async () => {
  const { clock, make } = fixture();
  await using registry = make({
    id: "api-1",
    env: "prod",
    version: "2.1.0",
    addr: "http://127.0.0.1:8080",
    meta: { zone: "eu-1" },
    hostname: "web-7",
  });
  const instance = await registry.start();
  assert.equal(registry.state, "running");
  assert.deepEqual(
    { ...instance, pid: 0 },
    {
      id: "api-1",
      service: "api",
      env: "prod",
      version: "2.1.0",
      addr: "http://127.0.0.1:8080",
      meta: { zone: "eu-1" },
      hostname: "web-7",
      pid: 0,
      status: "healthy",
      seq: instance.seq,
      registeredAt: clock.now(),
      heartbeatAt: clock.now(),
      expiresAt: clock.now() + 3000,
      heartbeatInterval: 1000,
      weight: 100,
    },
  );
  assert.equal(instance.pid, Deno.pid);
  assert.deepEqual(registry.instance(), instance);
});

Deno.test("the default id is <service>-<hostname>-<random> and unique per registry", () => {
  const { make } = fixture();
  const a = make({ hostname: "web.7" });
  const b = make({ hostname: "web.7" });
  assert.match(a.id ?? "", /^api-web\.7-[0-9a-f]{8}$/);
  assert.notEqual(a.id, b.id);
});

Deno.test("heartbeats keep the instance live and update its snapshot", async () => {
  const { clock, make } = fixture();
  await using registry = make();
  const first = await registry.start();
  await clock.tickAsync(30_000);
  const now = registry.instance();
  assert.ok(now && now.heartbeatAt > first.heartbeatAt);
  assert.equal(now.seq, first.seq);
  assert.deepEqual((await registry.instances("api")).map((i) => i.id), [
    registry.id,
  ]);
});

Deno.test("instances lists oldest first, by service or all; services lists names", async () => {
  const { make } = fixture();
  await using a = make({ id: "a" });
  await using w = make({ id: "w", service: "worker" });
  await using b = make({ id: "b" });
  await using elsewhere = make({ id: "x", env: "staging" });
  for (const r of [a, w, b, elsewhere]) await r.start();
  const ids = (list: { id: string }[]) => list.map((i) => i.id);
  assert.deepEqual(ids(await a.instances("api")), ["a", "b"]);
  assert.deepEqual(ids(await a.instances()), ["a", "w", "b"]);
  assert.deepEqual(ids(await a.instances("worker", "api")), ["a", "w", "b"]);
  assert.deepEqual(await a.services(), ["api", "worker"]);
  assert.deepEqual(ids(await elsewhere.instances()), ["x"]);
});

Deno.test("a registry without a service discovers but cannot start", async () => {
  const { driver, clock, make } = fixture();
  await using member = make({ id: "m" });
  await member.start();
  const discovery = new Registry({ driver, clock });
  assert.equal(discovery.id, undefined);
  assert.deepEqual((await discovery.instances("api")).map((i) => i.id), ["m"]);
  await assert.rejects(discovery.start(), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.field, "service");
    return true;
  });
  await discovery.stop();
});

Deno.test("stop deregisters, is idempotent, and reports it", async () => {
  const { make } = fixture();
  const registry = make();
  await registry.start();
  const events: boolean[] = [];
  registry.on("deregistered", ({ removed }) => events.push(removed));
  const first = registry.stop();
  assert.equal(registry.stop(), first);
  await first;
  await registry.stop();
  assert.equal(registry.state, "stopped");
  assert.deepEqual(await registry.instances("api"), []);
  assert.deepEqual(events, [true]);
  await assert.rejects(registry.start(), RegistryStateError);
});

Deno.test("stop is bounded by its deadline when the backend hangs", async () => {
  const clock = new FakeClock();
  const driver = new FlakyDriver(clock);
  const registry = new Registry({
    driver,
    clock,
    service: "api",
    heartbeatInterval: "1s",
    ttl: "3s",
    stopTimeout: "2s",
  });
  await registry.start();
  driver.hang = true;
  let done = false;
  let result: { removed: boolean; error?: unknown } | undefined;
  registry.on("deregistered", (event) => result = event);
  const stopping = registry.stop().then(() => done = true);
  await clock.tickAsync(1_999);
  assert.equal(done, false);
  await clock.tickAsync(1);
  await stopping;
  assert.equal(result?.removed, false);
  assert.match(String(result?.error), /'stop' took longer than 2000ms/);
  assert.equal(registry.state, "stopped");
  await driver.close();
});

Deno.test("await using stops the registry", async () => {
  const { driver, make } = fixture();
  {
    await using registry = make({ id: "scoped" });
    await registry.start();
    assert.equal(driver.stored("default"), 1);
  }
  assert.equal(driver.stored("default"), 0);
});

Deno.test("aborting the signal stops the registry", async () => {
  const { make } = fixture();
  const controller = new AbortController();
  const registry = make({ signal: controller.signal });
  await registry.start();
  let stopped!: () => void;
  const deregistered = new Promise<void>((resolve) => stopped = resolve);
  registry.on("deregistered", () => stopped());
  controller.abort();
  await deregistered;
  assert.equal(registry.state, "stopped");
  assert.deepEqual(await registry.instances("api"), []);
});

Deno.test("a taken id fails start with AlreadyRegisteredError and registers nothing", async () => {
  const { make, driver } = fixture();
  await using first = make({ id: "api-1", addr: "first" });
  await first.start();
  const second = make({ id: "api-1", addr: "second" });
  await assert.rejects(second.start(), AlreadyRegisteredError);
  assert.equal(second.state, "stopped");
  const listed = await first.instances();
  assert.deepEqual(listed.map((i) => i.addr), ["first"]);
  assert.equal(driver.stored("default"), 1);
  await second.stop();
});

Deno.test("a failed start leaves nothing registered, even when the register landed late", async () => {
  const clock = new FakeClock();
  const driver = new FlakyDriver(clock);
  driver.failWith = new Error("ECONNREFUSED");
  const registry = new Registry({
    driver,
    clock,
    service: "api",
    heartbeatInterval: "1s",
    ttl: "3s",
  });
  await assert.rejects(registry.start(), /ECONNREFUSED/);
  driver.failWith = undefined;
  await clock.runDue();
  assert.equal(driver.inner.stored(), 0);
  assert.equal(clock.pendingTimers, 0);
});

Deno.test("a listener that throws does not stop the heartbeat", async () => {
  await using logs = await captureLogs();
  const { clock, make } = fixture();
  await using registry = make();
  let beats = 0;
  registry.on("heartbeat", () => {
    beats++;
    throw new Error("listener bug");
  });
  await registry.start();
  await clock.tickAsync(5_500);
  assert.ok(beats >= 4, `beats: ${beats}`);
  assert.ok(logs.messages().some((m) => m.includes("listener bug")));
});

Deno.test("on returns a function that removes the listener", async () => {
  const { clock, make } = fixture();
  await using registry = make();
  let beats = 0;
  const off = registry.on("heartbeat", () => beats++);
  await registry.start();
  await clock.tickAsync(1_200);
  off();
  await clock.tickAsync(5_000);
  assert.equal(beats, 1);
});

Deno.test("a bad option fails at creation, naming it", () => {
  const { make } = fixture();
  assert.throws(
    () => make({ ttl: "5 parsecs" }),
    (error: unknown) => error instanceof ConfigError && error.field === "ttl",
  );
});

Deno.test("instances rejects a bad service name", async () => {
  const { make } = fixture();
  const registry = make();
  await assert.rejects(
    async () => await registry.instances("no spaces"),
    ConfigError,
  );
});

Deno.test("after an hour of silence a cold observer lists, counts and elects no crashed instance", async () => {
  const clock = new FakeClock();
  const driver = new MemoryDriver({ clock });
  // It registered with a short ttl and crashed; its peer crashed too.
  await driver.register({
    id: "short",
    service: "api",
    env: "default",
    version: "",
    addr: "",
    meta: {},
    hostname: "h",
    pid: 1,
    owner: "o1",
    status: "healthy",
    ttl: 100,
    heartbeatInterval: 30,
  });
  await driver.register({
    id: "dead",
    service: "api",
    env: "default",
    version: "",
    addr: "",
    meta: {},
    hostname: "h",
    pid: 2,
    owner: "o2",
    status: "healthy",
    ttl: 15_000,
    heartbeatInterval: 5_000,
  });
  await clock.tickAsync(3_600_000);
  const observer = new Registry({ driver, clock, cache: true });
  try {
    assert.deepEqual(await observer.instances("api"), []);
    assert.deepEqual(await driver.list({ env: "default" }), []);
    assert.equal(await observer.leader("api"), undefined);
    assert.equal((await observer.quorum("api", 1)).live, 0);
  } finally {
    await observer.stop();
  }
});
