// A Node.js app on a real redis-server: two instances register, a third
// process lists them, watches one join and one leave, and elects a leader.
// Node 20 has no `await using`: every resource is released in `finally`.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Registry, RoundRobinPicker } from "@roster/roster";
import { RedisDriver } from "@roster/roster/redis";
import { startRedis } from "./_redis.js";

/**
 * Runs `body` on a redis-server of its own; `open` makes a registry on a
 * connection of its own. Everything is released in `finally`.
 */
async function onRedis(ttl, body) {
  const redis = await startRedis();
  const drivers = [];
  const registries = [];
  const connect = async () => {
    const driver = await RedisDriver.connect({ url: redis.url });
    drivers.push(driver);
    return driver;
  };
  const open = async (options) => {
    const registry = new Registry({
      driver: await connect(),
      heartbeatInterval: "100ms",
      ttl,
      ...options,
    });
    registries.push(registry);
    return registry;
  };
  try {
    await body({ open, connect });
  } finally {
    for (const registry of registries) await registry.stop();
    for (const driver of drivers) await driver.close();
    await redis.stop();
  }
}

test("register, list, watch, elect and stop on Redis", () =>
  onRedis("1s", async ({ open }) => {
    const a = await open({ service: "api", id: "api-a", meta: { zone: "eu" } });
    const b = await open({ service: "api", id: "api-b", meta: { zone: "us" } });
    const observer = await open({});
    await a.start();
    await b.start();

    const live = await observer.instances("api");
    assert.deepEqual(live.map((i) => i.id), ["api-a", "api-b"]);
    assert.equal(live[0].meta.zone, "eu");

    // Watch a join and a leave.
    const controller = new AbortController();
    const seen = [];
    const watching = (async () => {
      for await (
        const event of observer.watch("api", { signal: controller.signal })
      ) {
        seen.push(`${event.type} ${event.instance.id} ${event.reason}`);
        if (seen.includes("leave api-c deregistered")) controller.abort();
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const c = await open({ service: "api", id: "api-c" });
    await c.start();
    await c.stop();
    await watching;
    assert.ok(seen.includes("join api-c registered"), seen.join(", "));
    assert.ok(seen.includes("leave api-c deregistered"), seen.join(", "));

    // The oldest live instance leads, with a term issued by Redis.
    const leadership = await a.standby();
    assert.ok(leadership.term > 0);
    assert.ok(leadership.valid());
    assert.equal((await observer.leader("api"))?.id, "api-a");
    await a.stop();
    assert.ok(leadership.signal.aborted, "stopping ends the leadership");
    assert.deepEqual((await observer.instances("api")).map((i) => i.id), [
      "api-b",
    ]);
  }));

test("health checks run on Node: command, tcp and http", async () => {
  const { HealthCheck } = await import("@roster/roster");
  const redis = await startRedis();
  const { createServer } = await import("node:http");
  const server = createServer((_, res) => res.end("ok"));
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const timing = { interval: 1000, timeout: 500, failures: 1, successes: 1 };
  try {
    const port = new URL(redis.url).port;
    assert.deepEqual(
      await new HealthCheck({ tcp: `127.0.0.1:${port}`, ...timing })
        .checkOnce(),
      { ok: true },
    );
    const failing = await new HealthCheck({
      command: ["sh", "-c", "echo 'not ready' >&2; exit 1"],
      ...timing,
    }).checkOnce();
    assert.equal(failing.ok, false);
    assert.match(failing.error, /exited with 1: not ready/);
    const http = await new HealthCheck({
      http: `http://127.0.0.1:${server.address().port}/`,
      ...timing,
    }).checkOnce();
    assert.equal(http.ok, true);

    // The registry's own check turns the instance healthy.
    const registry = new Registry({
      service: "checked",
      heartbeatInterval: "100ms",
      ttl: "1s",
      health: { command: ["true"], ...timing },
    });
    try {
      await registry.start();
      for (
        let i = 0;
        i < 50 && registry.instance()?.status !== "healthy";
        i++
      ) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(registry.instance()?.status, "healthy");
    } finally {
      await registry.stop();
    }
  } finally {
    server.close();
    await redis.stop();
  }
});

test("drain, maintenance, warning and eviction protection on Node", () =>
  onRedis("400ms", async ({ open, connect }) => {
    const a = await open({ service: "api", id: "api-a" });
    const b = await open({ service: "api", id: "api-b" });
    const observer = await open({});
    await a.start();
    await b.start();
    const picker = new RoundRobinPicker();

    await a.drain({ linger: "100ms", stop: false });
    assert.deepEqual(
      (await observer.allInstances("api")).map((i) => i.status),
      ["draining", "healthy"],
    );
    assert.equal((await observer.pick("api", picker))?.id, "api-b");
    await a.stop();

    // Conditions with a deadline: on a loaded machine the beat that records
    // a status can land a moment after the call that set it returns.
    const until = async (what, probe) => {
      const deadline = Date.now() + 3_000;
      while (!(await probe())) {
        if (Date.now() > deadline) throw new Error(`${what}: not within 3 s`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    };
    await b.setMaintenance(true, { ttl: "1h" });
    await until(
      "b out of the instances that take work",
      async () => (await observer.instances("api")).length === 0,
    );
    b.setStatus("warning");
    await b.setMaintenance(false);
    await until(
      "b back, with its warning",
      async () => (await observer.instances("api"))[0]?.status === "warning",
    );

    // Four that never beat: two expire, the valve holds the other two.
    const changes = [];
    observer.on("protection", (change) => changes.push(change));
    const controller = new AbortController();
    const watching = (async () => {
      for await (
        const _ of observer.watch("api", { signal: controller.signal })
      ) {
        // following keeps the view
      }
    })();
    await observer.waitFor("api", { min: 1 });
    const raw = await connect();
    for (const id of ["x1", "x2", "x3", "x4"]) {
      await raw.register({
        id,
        service: "api",
        env: "default",
        version: "",
        addr: "",
        meta: {},
        hostname: "h",
        pid: 1,
        status: "healthy",
        owner: crypto.randomUUID(),
        ttl: 400,
        heartbeatInterval: 100,
      });
    }
    const deadline = Date.now() + 5_000;
    while (changes.length < 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    controller.abort();
    await watching;
    assert.deepEqual(changes.map((c) => [c.on, c.reason]), [
      [true, undefined],
      [false, "bound passed"],
    ]);
  }));
