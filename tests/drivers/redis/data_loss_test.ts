/**
 * Data loss causes no false `leave`, and no single lost key hides anyone:
 * after any one of an env's keys is deleted by hand, every live instance is
 * listed again within one interval, under its seq; a cached view never
 * drops every instance at once, and leadership does not move on a resync.
 * Keys of the wrong type, or a Redis out of memory, give one clear line.
 */

import assert from "node:assert/strict";
import { type LeaderChange, Registry } from "../../../mod.ts";
import { RedisDriver } from "../../../drivers/redis/mod.ts";
import { RedisServer, redisTest, sleep } from "../../_redis_server.ts";
import { collect, eventually } from "../../discovery/_discovery_suite.ts";
import { captureLogs } from "../../_log_capture.ts";
import { runRunner, writeConfig } from "../../_runner_process.ts";
import { startOnDriverForSetup } from "../../_registration.ts";

const INTERVAL = 100;
const TTL = 400;

async function member(
  url: string,
  id: string,
  env: string,
  timing = { heartbeatInterval: INTERVAL, ttl: TTL },
) {
  const driver = await RedisDriver.connect({ url, commandTimeout: 50 });
  // The 50 ms command timeout is for the faults; on a loaded machine it can
  // fail the start itself, which is setup, so that is tried again.
  const registry = await startOnDriverForSetup(
    driver,
    () => new Registry({ driver, env, service: "api", id, ...timing }),
    timing.ttl + 100,
  );
  const reregistered: number[] = [];
  registry.on(
    "reregistered",
    ({ instance }) => reregistered.push(instance.seq),
  );
  const instance = registry.instance()!;
  return {
    registry,
    instance,
    reregistered,
    async [Symbol.asyncDispose]() {
      await registry.stop();
      await driver.close();
    },
  };
}

async function fresh<T>(
  url: string,
  body: (driver: RedisDriver) => Promise<T>,
): Promise<T> {
  const driver = await RedisDriver.connect({ url });
  try {
    return await body(driver);
  } finally {
    await driver.close();
  }
}

Deno.test(redisTest(
  "deleting any one of an env's keys hides no one for longer than an interval and reports no leave",
  async (t) => {
    await using server = await RedisServer.start();
    const admin = await server.admin();
    for (
      const key of [
        "ids",
        "meta",
        "log",
        "p:api",
        "b:api",
      ]
    ) {
      await t.step(key, async () => {
        const env = `del-${key.replace(":", "-")}`;
        await using a = await member(server.url, "api-a", env);
        await using b = await member(server.url, "api-b", env);
        await using c = await member(server.url, "api-c", env);
        // A leave frees a slot, so the free list has something to lose.
        await using d = await member(server.url, "api-d", env);
        await d.registry.stop();
        const watcher = new Registry({
          driver: await RedisDriver.connect({ url: server.url }),
          env,
          heartbeatInterval: INTERVAL,
          ttl: TTL,
        });
        // A failed step still stops its watcher: no timer outlives it.
        await using _watcher = {
          async [Symbol.asyncDispose]() {
            await watcher.stop();
            await watcher.driver.close();
          },
        };
        const seen = collect(watcher.watch("api", { current: true }));
        await eventually("watching", () => seen.events.length === 3);
        const expected = [a, b, c].map((m) =>
          `${m.instance.id}:${m.instance.seq}`
        );
        assert.equal(await admin.del(`roster:{${env}}:${key}`), 1);
        const deleted = Date.now();
        await eventually(
          `all listed again after deleting ${key}`,
          async () => {
            const listed = await fresh(
              server.url,
              (driver) => driver.list({ env }),
            );
            const got = listed.map((i) => `${i.id}:${i.seq}`);
            return JSON.stringify(got) === JSON.stringify(expected)
              ? true
              : undefined;
          },
          INTERVAL * 1.1 + 200,
        );
        assert.ok(Date.now() - deleted <= INTERVAL * 1.1 + 200);
        await sleep(INTERVAL * 3);
        assert.deepEqual(
          seen.lines(),
          [
            "join current api-a",
            "join current api-b",
            "join current api-c",
          ],
          `no leave and no join after deleting ${key}`,
        );
        for (const m of [a, b, c]) assert.deepEqual(m.reregistered, []);
        // A newcomer still gets a seq above everyone's, and a free slot.
        await using e = await member(server.url, "api-e", env);
        assert.ok(e.instance.seq > c.instance.seq);
        const listed = await fresh(
          server.url,
          (driver) => driver.list({ env }),
        );
        assert.deepEqual(
          listed.map((i) => i.id),
          ["api-a", "api-b", "api-c", "api-e"],
        );
        await watcher.stop();
        await seen.done;
      });
    }
  },
));

Deno.test(redisTest(
  "through FLUSHALL a cached view never drops every instance, and leadership does not move",
  async () => {
    await using server = await RedisServer.start();
    const env = "flush";
    await using a = await member(server.url, "api-a", env);
    await using b = await member(server.url, "api-b", env);
    await using c = await member(server.url, "api-c", env);
    const driver = await RedisDriver.connect({ url: server.url });
    const cached = new Registry({
      driver,
      env,
      cache: true,
      heartbeatInterval: INTERVAL,
      ttl: TTL,
    });
    try {
      assert.equal((await cached.instances("api")).length, 3);
      const changes: LeaderChange[] = [];
      const controller = new AbortController();
      const leaders = (async () => {
        for await (
          const change of cached.leaderChanges("api", {
            signal: controller.signal,
          })
        ) changes.push(change);
      })();
      await eventually("the first leader", () => changes.length === 1);
      const watched = collect(cached.watch("api"));
      await (await server.admin()).flushall();
      const counts: number[] = [];
      const until = Date.now() + INTERVAL * 5;
      while (Date.now() < until) {
        counts.push((await cached.instances("api")).length);
        await sleep(5);
      }
      assert.ok(!counts.includes(0), `a listing was empty: ${counts}`);
      assert.deepEqual(
        changes.map((change) => change.leader?.id),
        ["api-a"],
        "leadership did not move",
      );
      assert.deepEqual(watched.lines(), [], "no leave, no join");
      for (const m of [a, b, c]) assert.deepEqual(m.reregistered, []);
      controller.abort();
      await leaders;
      await cached.stop();
      await watched.done;
    } finally {
      await cached.stop();
      await driver.close();
    }
  },
));

Deno.test(redisTest(
  "a key of the wrong type gives one clear line from list and leader, never a trace",
  async () => {
    await using server = await RedisServer.start();
    await using _a = await member(server.url, "api-a", "default");
    const admin = await server.admin();
    const file = await writeConfig(`[cluster]
driver = "redis"
[cluster.redis]
url = "${server.url}"
`);
    try {
      await admin.del("roster:{default}:p:api");
      await admin.hset("roster:{default}:p:api", "not", "a string");
      const list = await runRunner(["list", "--config", file]);
      assert.equal(list.code, 1);
      const lines = list.stderr.trim().split("\n");
      assert.equal(lines.length, 1, list.stderr);
      assert.match(lines[0] as string, /^roster: .*WRONGTYPE/);
      const leader = await runRunner([
        "leader",
        "--config",
        file,
        "--service",
        "api",
        "--timeout",
        "1s",
      ]);
      assert.equal(leader.code, 1);
      assert.match(leader.stderr, /could not read the registry within 1s/);
      assert.doesNotMatch(leader.stderr, /\n\s+at /);
    } finally {
      await Deno.remove(file);
    }
  },
));

Deno.test(redisTest(
  "out of memory: listings and leader still answer, and a failing heartbeat logs one line without its owner token",
  async () => {
    await using logs = await captureLogs();
    await using server = await RedisServer.start();
    // Beats fail while Redis is out of memory: a long ttl keeps it live.
    await using a = await member(server.url, "api-a", "default", {
      heartbeatInterval: 5_000,
      ttl: 20_000,
    });
    const admin = await server.admin();
    const file = await writeConfig(`[cluster]
driver = "redis"
[cluster.redis]
url = "${server.url}"
`);
    try {
      await admin.config("SET", "maxmemory-policy", "noeviction");
      await admin.config("SET", "maxmemory", "1");
      // Registering fails clearly; listing still works.
      const other = await RedisDriver.connect({ url: server.url });
      const registry = new Registry({
        driver: other,
        service: "api",
        id: "api-oom",
        heartbeatInterval: INTERVAL,
        ttl: TTL,
      });
      await assert.rejects(registry.start(), /OOM/);
      await registry.stop();
      await other.close();
      const list = await runRunner(["list", "--config", file, "--json"]);
      assert.equal(list.code, 0, list.stderr);
      assert.deepEqual(
        (JSON.parse(list.stdout) as { id: string }[]).map((i) => i.id),
        ["api-a"],
      );
      const leader = await runRunner([
        "leader",
        "--config",
        file,
        "--service",
        "api",
        "--timeout",
        "2s",
      ]);
      assert.equal(leader.code, 0, leader.stderr);
      assert.match(leader.stdout, /api-a leads api/);
      a.registry.setStatus("healthy"); // a beat now
      await eventually(
        "the failing heartbeat logged",
        () =>
          logs.messages().some((m) => m.includes("Heartbeat for api-a failed")),
        TTL * 2,
      );
      const failure = logs.messages().find((m) =>
        m.includes("Heartbeat for api-a failed")
      ) as string;
      assert.match(failure, /OOM/);
      assert.doesNotMatch(
        failure,
        /[0-9a-f]{8}-[0-9a-f]{4}-/,
        "no owner token",
      );
      assert.doesNotMatch(failure, /args/);
      await admin.config("SET", "maxmemory", "0");
    } finally {
      await Deno.remove(file);
    }
  },
));
