/**
 * Never list the dead: a crashed instance is listed, counted and eligible
 * to lead for at most ttl + 1 s after its last accepted beat, for any
 * observer, after any idleness, beside any mix of ttls, and when the only
 * scripts that run are listings and watchers. And expiry work stays the
 * same however many processes watch.
 */

import assert from "node:assert/strict";
import { type Instance, Registry, WaitForTimeoutError } from "../../../mod.ts";
import { RedisDriver } from "../../../drivers/redis/mod.ts";
import { registration, startOnDriverForSetup } from "../../_registration.ts";
import { RedisServer, redisTest, sleep } from "../../_redis_server.ts";
import { collect, eventually } from "../../discovery/_discovery_suite.ts";
import { runRunner, spawnRunner, writeConfig } from "../../_runner_process.ts";

const TTL = 400;
const INTERVAL = 100;

/** A live member: a registry on a connection of its own. */
async function member(url: string, id: string, env: string) {
  const driver = await RedisDriver.connect({ url, commandTimeout: 50 });
  // The 50 ms command timeout is for the test; on a loaded machine it can
  // fail the start itself, which is setup, so that is tried again.
  const registry = await startOnDriverForSetup(
    driver,
    () =>
      new Registry({
        driver,
        env,
        service: "api",
        id,
        heartbeatInterval: INTERVAL,
        ttl: TTL,
      }),
    TTL + 100,
  );
  const beats: number[] = [];
  registry.on("heartbeat", ({ instance }) => beats.push(instance.heartbeatAt));
  const instance = registry.instance()!;
  beats.push(instance.heartbeatAt);
  return {
    registry,
    instance,
    beats,
    async [Symbol.asyncDispose]() {
      await registry.stop();
      await driver.close();
    },
  };
}

/**
 * A crashed member: registered and beaten through a driver of its own, then
 * never again. Returns when its lease runs out, by Redis's clock.
 */
async function crashed(
  driver: RedisDriver,
  env: string,
  id: string,
  ttl = TTL,
): Promise<number> {
  const reg = registration({ env, id, ttl });
  await driver.register(reg);
  const { instance } = await driver.heartbeat(reg);
  return instance.expiresAt;
}

async function redisNow(server: RedisServer): Promise<number> {
  const [seconds, micros] = await (await server.admin()).time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/** A process that starts now and looks: a fresh connection and registry. */
async function coldObserver(url: string, env: string) {
  const driver = await RedisDriver.connect({ url });
  const registry = new Registry({
    driver,
    env,
    heartbeatInterval: INTERVAL,
    ttl: TTL,
  });
  return {
    driver,
    registry,
    async [Symbol.asyncDispose]() {
      await registry.stop();
      await driver.close();
    },
  };
}

Deno.test(redisTest(
  "a crashed instance beside live ones and shorter ttls is not listed, counted or leader for a cold observer after idleness",
  async () => {
    await using server = await RedisServer.start();
    const env = "mixed";
    const raw = await RedisDriver.connect({ url: server.url });
    try {
      // The oldest instance crashes; a short-ttl one comes and goes.
      const deadUntil = await crashed(raw, env, "api-dead");
      await crashed(raw, env, "api-short", 100);
      await using live = await member(server.url, "api-live", env);
      // Idle twice: no watcher and no listing, only the live one beats.
      for (let round = 0; round < 2; round++) {
        await sleep(TTL * 4);
        assert.ok(await redisNow(server) > deadUntil + 1000);
        await using observer = await coldObserver(server.url, env);
        const listed = await observer.driver.list({ env });
        assert.deepEqual(listed.map((i) => i.id), ["api-live"]);
        assert.deepEqual(
          (await observer.driver.snapshot(env)).instances.map((i) => i.id),
          ["api-live"],
        );
        assert.deepEqual(await observer.driver.services(env), ["api"]);
        assert.equal((await observer.registry.leader("api"))?.id, "api-live");
        assert.equal((await observer.registry.quorum("api", 2)).live, 1);
        await assert.rejects(
          observer.registry.waitFor("api", { min: 2, timeout: 200 }),
          WaitForTimeoutError,
        );
        // The heartbeatAt a listing reports is one a heartbeat produced.
        const [shown] = listed as [Instance];
        assert.ok(
          live.beats.includes(shown.heartbeatAt),
          `${shown.heartbeatAt} is not among the beats`,
        );
      }
    } finally {
      await raw.close();
    }
  },
));

Deno.test(redisTest(
  "with only listings and a watcher running, a crashed instance leaves within ttl + 1s",
  async () => {
    await using server = await RedisServer.start();
    const env = "crash";
    const raw = await RedisDriver.connect({ url: server.url });
    try {
      const deadUntil = await crashed(raw, env, "api-a");
      // Nothing beats in this env any more: a discovery-only watcher and
      // listings are the only scripts that run.
      await using observer = await coldObserver(server.url, env);
      const seen = collect(observer.registry.watch("api"));
      const listings: string[][] = [];
      let leftAt: number | undefined;
      while (leftAt === undefined) {
        listings.push(
          (await observer.driver.list({ env })).map((i) => i.id),
        );
        const now = await redisNow(server);
        if (seen.events.some((e) => e.type === "leave")) leftAt = now;
        else if (now > deadUntil + 1000) break;
        await sleep(20);
      }
      assert.ok(leftAt !== undefined, "no leave within ttl + 1s");
      assert.deepEqual(seen.lines(), ["leave expired api-a"]);
      assert.ok(leftAt <= deadUntil + 1000);
      // Every listing after the expiry was empty.
      assert.deepEqual(listings.at(-1), []);
      await observer.registry.stop();
      await seen.done;
    } finally {
      await raw.close();
    }
  },
));

Deno.test(redisTest(
  "a standby leads within ttl + 1s of its crashed leader's last beat",
  async () => {
    await using server = await RedisServer.start();
    const env = "standby";
    const raw = await RedisDriver.connect({ url: server.url });
    try {
      const deadUntil = await crashed(raw, env, "api-a");
      // A short-ttl registration too, as once lowered a guard for ever.
      await crashed(raw, env, "api-short", 100);
      await using b = await member(server.url, "api-b", env);
      const leadership = await b.registry.standby();
      const ledAt = await redisNow(server);
      assert.ok(
        ledAt <= deadUntil + 1000,
        `led ${ledAt - deadUntil}ms after the leader's lease ran out`,
      );
      assert.equal(leadership.signal.aborted, false);
    } finally {
      await raw.close();
    }
  },
));

Deno.test(redisTest(
  "expiry work stays the same however many processes watch: one purge per env per period",
  async () => {
    await using server = await RedisServer.start();
    const admin = await server.admin();
    const env = "watched";
    const watchers = await Promise.all(
      Array.from({ length: 20 }, () => coldObserver(server.url, env)),
    );
    try {
      const streams = watchers.map((w) => collect(w.registry.watch("api")));
      await sleep(300);
      await admin.config("RESETSTAT");
      const started = Date.now();
      await sleep(2_000);
      const elapsed = Date.now() - started;
      const info = await admin.info("commandstats");
      // Only the process that won the purge token purges, and touches the
      // env's meta (nothing else changes meanwhile).
      const scans = Number(
        /cmdstat_pexpire:calls=(\d+)/.exec(info)?.[1] ?? 0,
      );
      assert.ok(
        scans <= elapsed / 250 + 3,
        `${scans} purge scans in ${elapsed}ms from 20 watchers`,
      );
      for (const w of watchers) await w.registry.stop();
      await Promise.all(streams.map((s) => s.done));
    } finally {
      for (const w of watchers) await w[Symbol.asyncDispose]();
    }
  },
));

Deno.test(redisTest(
  "three SIGKILLed runners: wait, leader and list tell the truth after idleness",
  async () => {
    await using server = await RedisServer.start();
    const files: string[] = [];
    const runners = [];
    for (const id of ["api-1", "api-2", "api-3"]) {
      const file = await writeConfig(`[cluster]
driver = "redis"
service = "api"
id = "${id}"
heartbeat_interval = "200ms"
ttl = "800ms"
[cluster.redis]
url = "${server.url}"
`);
      files.push(file);
      const runner = spawnRunner(["--config", file]);
      runners.push(runner);
      await runner.waitForLine(/^roster: registered/);
    }
    for (const runner of runners) {
      runner.child.kill("SIGKILL");
      await runner.status;
    }
    await sleep(3_000);
    const file = files[0] as string;
    const wait = await runRunner([
      "wait",
      "--config",
      file,
      "--service",
      "api",
      "--min",
      "3",
      "--timeout",
      "1s",
    ]);
    assert.equal(wait.code, 1, wait.stdout);
    const leader = await runRunner([
      "leader",
      "--config",
      file,
      "--service",
      "api",
    ]);
    assert.equal(leader.code, 1, leader.stdout);
    assert.match(leader.stdout, /no live instance/);
    const list = await runRunner(["list", "--config", file, "--json"]);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(JSON.parse(list.stdout), []);
    for (const runner of runners) await runner[Symbol.asyncDispose]();
  },
));

Deno.test(redisTest(
  "a watcher started after the crash reports the leave, and a lingering cached view drops the dead",
  async () => {
    await using server = await RedisServer.start();
    const env = "late";
    const raw = await RedisDriver.connect({ url: server.url });
    try {
      await using observer = await coldObserver(server.url, env);
      const cached = new Registry({
        driver: observer.driver,
        env,
        cache: true,
        heartbeatInterval: INTERVAL,
        ttl: TTL,
      });
      const deadUntil = await crashed(raw, env, "api-a");
      assert.deepEqual(
        (await cached.instances("api")).map((i) => i.id),
        ["api-a"],
      );
      await eventually(
        "the cached view drops the dead",
        async () => (await cached.instances("api")).length === 0,
        TTL + 1000,
      );
      assert.ok(await redisNow(server) <= deadUntil + 1000);
      await cached.stop();
    } finally {
      await raw.close();
    }
  },
));
