/**
 * Never evict the living: after Redis is paused, put to sleep, stopped with
 * SIGSTOP or restarted from disk, for up to ten ttls, no live instance gets
 * a `leave` once it beats again; an instance that died meanwhile is never
 * listed again, and its leave comes after one bounded grace at most.
 */

import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { Registry } from "../../../mod.ts";
import { RedisDriver } from "../../../drivers/redis/mod.ts";
import { registration, startOnDriverForSetup } from "../../_registration.ts";
import { RedisServer, redisTest, sleep } from "../../_redis_server.ts";
import { eventually } from "../../discovery/_discovery_suite.ts";
import { figure } from "../../_figures.ts";
import { startWatcher } from "./_watcher.ts";

const TTL = 300;
const INTERVAL = 100;
const OUTAGE = TTL * 10;

async function member(url: string, id: string) {
  const driver = await RedisDriver.connect({ url, commandTimeout: 50 });
  // The 50 ms command timeout is for the faults; on a loaded machine it can
  // fail the start itself, which is setup, so that is tried again.
  const registry = await startOnDriverForSetup(
    driver,
    () =>
      new Registry({
        driver,
        service: "api",
        id,
        heartbeatInterval: INTERVAL,
        ttl: TTL,
      }),
    TTL + 100,
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

function watcher(url: string) {
  return startWatcher(url, {
    commandTimeout: 200,
    heartbeatInterval: INTERVAL,
    ttl: TTL,
  });
}

async function listedIds(url: string): Promise<string[]> {
  const driver = await RedisDriver.connect({ url });
  try {
    return (await driver.list({ env: "default" })).map((i) => i.id);
  } finally {
    await driver.close();
  }
}

/**
 * Three live members, one that crashed just before the outage, and a
 * watcher; runs the outage, then checks both halves of the promise.
 */
async function survives(
  server: RedisServer,
  outage: string,
  run: () => Promise<void>,
): Promise<void> {
  await using a = await member(server.url, "api-a");
  await using b = await member(server.url, "api-b");
  await using c = await member(server.url, "api-c");
  const raw = await RedisDriver.connect({ url: server.url });
  try {
    await raw.register(registration({ id: "api-dead", ttl: TTL }));
    await using w = await watcher(server.url);
    await eventually("watching", () => w.seen.events.length === 4);
    await run();
    const ended = Date.now();
    const live = ["api-a", "api-b", "api-c"];
    await eventually(
      `${outage}: every live instance listed again`,
      async () => {
        const ids = await listedIds(server.url).catch((): string[] => []);
        return live.every((id) => ids.includes(id)) && !ids.includes("api-dead")
          ? true
          : undefined;
      },
      INTERVAL * 10,
    );
    figure(outage, "listed again after (ms)", Date.now() - ended);
    // The dead one's leave comes after one grace at most: a ttl after the
    // outage ended, plus a purge period.
    await eventually(
      `${outage}: the dead instance's leave`,
      () => w.seen.events.some((e) => e.type === "leave"),
      TTL + 1_000,
    );
    await sleep(INTERVAL * 3);
    assert.deepEqual(
      w.seen.lines().map((line) =>
        // A restarted Redis begins a new change-log epoch (it may have come
        // back from an older snapshot), so the watcher compares with a
        // fresh snapshot and the dead instance's leave reads `resync`.
        line === "leave resync api-dead" ? "leave expired api-dead" : line
      ),
      [
        "join current api-a",
        "join current api-b",
        "join current api-c",
        "join current api-dead",
        "leave expired api-dead",
      ],
      `${outage}: no live instance got a leave`,
    );
    for (const m of [a, b, c]) {
      assert.deepEqual(m.reregistered, [], `${outage}: ${m.instance.id}`);
      assert.equal(m.registry.heartbeatState, "healthy");
    }
    const fresh = await RedisDriver.connect({ url: server.url });
    const listed = await fresh.list({ env: "default" }).finally(() =>
      fresh.close()
    );
    assert.deepEqual(
      listed.map((i) => `${i.id}:${i.seq}`),
      [a, b, c].map((m) => `${m.instance.id}:${m.instance.seq}`),
      `${outage}: the same seqs`,
    );
  } finally {
    await raw.close();
  }
}

Deno.test(
  redisTest("CLIENT PAUSE for ten ttls evicts no live instance", async () => {
    await using server = await RedisServer.start();
    await survives(server, "CLIENT PAUSE 10 ttl", async () => {
      await (await server.admin()).call(
        "CLIENT",
        "PAUSE",
        String(OUTAGE),
        "ALL",
      );
      await sleep(OUTAGE);
    });
  }),
);

Deno.test(
  redisTest("DEBUG SLEEP for ten ttls evicts no live instance", async () => {
    await using server = await RedisServer.start([
      "--enable-debug-command",
      "yes",
    ]);
    await survives(server, "DEBUG SLEEP 10 ttl", async () => {
      const sleeper = (await server.admin()).duplicate();
      await sleeper.call("DEBUG", "SLEEP", String(OUTAGE / 1000));
      sleeper.disconnect();
    });
  }),
);

Deno.test(redisTest(
  "SIGSTOP and SIGCONT of redis-server ten ttls apart evict no live instance",
  async () => {
    await using server = await RedisServer.start();
    await survives(server, "SIGSTOP 10 ttl", async () => {
      Deno.kill(server.pid as number, "SIGSTOP");
      await sleep(OUTAGE);
      Deno.kill(server.pid as number, "SIGCONT");
    });
  },
));

Deno.test(redisTest(
  "a restart from disk after ten ttls down evicts no live instance",
  async () => {
    await using server = await RedisServer.start(["--appendonly", "yes"]);
    await survives(server, "restart from disk 10 ttl", async () => {
      await server.restartFromDisk(OUTAGE);
    });
  },
));

/** The grace flag of an entry's slot, or null once it is no longer stored. */
async function graceFlag(admin: Redis, id: string): Promise<string | null> {
  const held = await admin.hget("roster:{default}:ids", id);
  if (!held) return null;
  const slot = Number(held.split("\t")[1]);
  return await admin.getrange(
    "roster:{default}:b:api",
    slot * 60 + 46,
    slot * 60 + 46,
  );
}

/**
 * Purges through a `CLIENT PAUSE` and after it; the first purge that gets
 * through reports the outage as this client saw it.
 */
async function purgeThrough(
  admin: Redis,
  client: RedisDriver,
  pause: number,
): Promise<void> {
  await admin.call("CLIENT", "PAUSE", String(pause), "ALL");
  const until = Date.now() + pause;
  while (Date.now() < until) {
    await client.purge("default").catch(() => {});
    await sleep(50);
  }
  await eventually("a purge after the outage", async () => {
    await sleep(250);
    return await client.purge("default").then(() => true, () => false);
  });
}

Deno.test(redisTest(
  "an entry that fell due in an outage is graced once, not again by a later report that covers it",
  async () => {
    const ttl = 1_000;
    await using server = await RedisServer.start();
    const admin = await server.admin();
    const flag = () => graceFlag(admin, "api-dead");
    const connect = () =>
      RedisDriver.connect({ url: server.url, commandTimeout: 100 });
    const a = await connect();
    const b = await connect();
    try {
      await a.register(registration({ id: "api-dead", ttl }));
      // b last heard from Redis now, before either outage.
      await b.purge("default");
      // The first outage covers the expiry: graced, and marked as graced.
      await purgeThrough(admin, a, ttl * 1.5);
      // (A purge queued in the pause may hold the token a moment.)
      await eventually("marked graced", async () => {
        await a.purge("default").catch(() => {});
        return await flag() === "g";
      }, ttl / 2);
      assert.deepEqual(await listedIds(server.url), [], "never listed again");
      // b fails through a second outage and then reports one long outage,
      // from before the expiry until now. It covers the expiry again, but
      // the grace is not given twice: the entry goes at once.
      await purgeThrough(admin, b, ttl * 1.5);
      const resumed = Date.now();
      await eventually("purged after the second outage", async () => {
        await b.purge("default").catch(() => {});
        return await flag() === null;
      }, ttl);
      assert.ok(Date.now() - resumed < ttl / 2);
    } finally {
      await a.close();
      await b.close();
    }
  },
));

Deno.test(redisTest(
  "a crash that lapsed before an outage began is not graced, though a quiet client last heard from Redis before the lapse",
  async () => {
    const ttl = 600;
    await using server = await RedisServer.start();
    const admin = await server.admin();
    const connect = () =>
      RedisDriver.connect({ url: server.url, commandTimeout: 100 });
    const quiet = await connect();
    const owner = await connect();
    try {
      // The quiet client's last answer comes before the crash's lapse.
      await quiet.purge("default");
      const { expiresAt } = await owner.register(
        registration({ id: "api-dead", ttl }),
      );
      // The owner crashed: nothing beats, and nobody purges, until after
      // the lapse.
      await eventually("the lapse", async () => {
        const [seconds, micros] = await admin.time();
        return Number(seconds) * 1000 + Number(micros) / 1000 >
          expiresAt + 100;
      }, ttl * 3);
      // An outage begins after the lapse; the quiet client's calls fail
      // in it, and it reports the outage from its first failed call, not
      // from its last answer before the lapse.
      await purgeThrough(admin, quiet, ttl * 1.5);
      const flags = new Set<string | null>();
      await eventually("the crash purged", async () => {
        await quiet.purge("default").catch(() => {});
        const flag = await graceFlag(admin, "api-dead");
        flags.add(flag);
        return flag === null;
      }, ttl * 4);
      assert.ok(!flags.has("g"), "the crash was graced as if live");
    } finally {
      await quiet.close();
      await owner.close();
    }
  },
));
