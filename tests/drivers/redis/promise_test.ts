/**
 * The cases an operations team found by breaking Redis under roster, each
 * from the side that breaks the promise: lost keys in pairs, an older
 * snapshot restored under a running watcher, short freezes with a short
 * ttl, restarts without data, a write pause and a lagging replica under a
 * cold reader, an env
 * whose processes all crashed, a heartbeat with a large meta, and a leader
 * across a restart without data.
 */

import assert from "node:assert/strict";
import { type Instance, Registry, type WatchEvent } from "../../../mod.ts";
import { RedisDriver } from "../../../drivers/redis/mod.ts";
import {
  monitorCommands,
  RedisServer,
  redisTest,
  sleep,
} from "../../_redis_server.ts";
import { eventually } from "../../discovery/_discovery_suite.ts";
import { TcpProxy } from "../../_tcp_proxy.ts";
import { startOnDriverForSetup } from "../../_registration.ts";

const INTERVAL = 200;
const TTL = 600;

interface Member extends AsyncDisposable {
  registry: Registry;
  instance: Instance;
  reregistered: number[];
  driver: RedisDriver;
}

async function member(
  url: string,
  id: string,
  options: {
    env?: string;
    meta?: Record<string, string>;
    interval?: number;
    ttl?: number;
  } = {},
): Promise<Member> {
  const driver = await RedisDriver.connect({ url, commandTimeout: 100 });
  const ttl = options.ttl ?? TTL;
  // A start that misses the 100 ms command timeout on a loaded machine is
  // setup, and is tried again.
  const registry = await startOnDriverForSetup(
    driver,
    () =>
      new Registry({
        driver,
        env: options.env ?? "default",
        service: "api",
        id,
        meta: options.meta,
        heartbeatInterval: options.interval ?? INTERVAL,
        ttl,
        heartbeatTimeout: 100,
        protection: false,
      }),
    ttl + 100,
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
    driver,
    async [Symbol.asyncDispose]() {
      await registry.stop();
      await driver.close();
    },
  };
}

async function members(
  url: string,
  count: number,
  env = "default",
  timing: { interval?: number; ttl?: number } = {},
) {
  const list = await Promise.all(
    Array.from(
      { length: count },
      (_, i) => member(url, `api-${i}`, { env, ...timing }),
    ),
  );
  return {
    list,
    async [Symbol.asyncDispose]() {
      await Promise.all(list.map((m) => m[Symbol.asyncDispose]()));
    },
  };
}

/** A watcher on a connection of its own, recording every event. */
async function watcher(url: string, env = "default") {
  const driver = await RedisDriver.connect({ url, commandTimeout: 100 });
  const registry = new Registry({ driver, env, protection: false });
  const events: WatchEvent[] = [];
  const controller = new AbortController();
  const ready = Promise.withResolvers<void>();
  const running = (async () => {
    for await (
      const event of registry.watch(undefined, {
        current: true,
        signal: controller.signal,
      })
    ) {
      events.push(event);
      ready.resolve();
    }
  })().catch(() => {});
  await ready.promise;
  return {
    events,
    leaves: () => events.filter((e) => e.type === "leave"),
    async [Symbol.asyncDispose]() {
      controller.abort();
      await running;
      await registry.stop();
      await driver.close();
    },
  };
}

/** A cold process's listing, as `id:seq`; it throws when the read fails. */
async function coldListing(url: string, env = "default"): Promise<string[]> {
  const driver = await RedisDriver.connect({ url, commandTimeout: 500 });
  try {
    return (await driver.list({ env })).map((i) => `${i.id}:${i.seq}`).sort();
  } finally {
    await driver.close();
  }
}

/** A cold process's listing, as ids; it throws when the read fails. */
async function coldList(url: string, env = "default"): Promise<string[]> {
  return (await coldListing(url, env)).map((entry) => entry.split(":")[0]!);
}

/**
 * A cold listing for a wait: one that fails says nothing yet (a listing
 * either fails or tells the truth), so the wait goes on.
 */
function coldListOrNone(url: string, env = "default"): Promise<string[]> {
  return coldList(url, env).catch(() => []);
}

Deno.test(redisTest(
  "p:S and b:S lost together while ids survives: every instance is listed again within two intervals",
  async () => {
    await using server = await RedisServer.start();
    await using fleet = await members(server.url, 10);
    const admin = await server.admin();
    await admin.del("roster:{default}:p:api", "roster:{default}:b:api");
    const lost = Date.now();
    await eventually(
      "all ten listed",
      async () => (await coldListOrNone(server.url)).length === 10,
      INTERVAL * 4,
    );
    assert.ok(Date.now() - lost < INTERVAL * 4);
    // And they stay listed (nothing lapses a ttl later).
    await sleep(TTL * 2);
    assert.equal((await coldList(server.url)).length, 10);
    for (const m of fleet.list) assert.deepEqual(m.reregistered, []);
  },
));

Deno.test(redisTest(
  "every key the driver uses, lost alone and in every pair: every live instance is listed again within two intervals, with its seq",
  async (t) => {
    const KEYS = ["ids", "meta", "log", "purge", "p:api", "b:api"];
    const cases: string[][] = [];
    for (const [i, first] of KEYS.entries()) {
      cases.push([first]);
      for (const second of KEYS.slice(i + 1)) cases.push([first, second]);
    }
    await using server = await RedisServer.start();
    await using fleet = await members(server.url, 5);
    const admin = await server.admin();
    const seqs = fleet.list.map((m) => `${m.instance.id}:${m.instance.seq}`);
    for (const lost of cases) {
      await t.step(lost.join(" and "), async () => {
        await admin.del(...lost.map((key) => `roster:{default}:${key}`));
        await eventually(
          "all five listed with their seqs",
          async () => {
            const listed = await coldListing(server.url).catch(() => []);
            return listed.join() === [...seqs].sort().join();
          },
          INTERVAL * 2 + 200,
        );
      });
    }
    await sleep(TTL);
    for (const m of fleet.list) assert.deepEqual(m.reregistered, []);
  },
));

Deno.test(redisTest(
  "a crash a while after a restart from disk reaches a running watcher as an expired leave within ttl + 1 s",
  async () => {
    await using server = await RedisServer.start();
    await using fleet = await members(server.url, 4);
    await using w = await watcher(server.url);
    await server.restartFromDisk(300);
    // Everyone beats again; nothing has changed since the restart.
    await eventually(
      "all four listed again",
      async () => (await coldListOrNone(server.url)).length === 4,
      TTL * 4,
    );
    await sleep(TTL * 2);
    const crashed = fleet.list[0]!;
    await crashed.driver.close();
    const crashedAt = Date.now();
    const leave = await eventually(
      "the crash's leave",
      () => w.leaves().find((e) => e.instance.id === crashed.instance.id),
      TTL + 1_000 + 500,
    );
    // The restart began the log's next epoch while nothing changed, so the
    // leave is the purge's own, not a resync's held for a ttl.
    assert.equal(leave.reason, "expired");
    assert.ok(
      Date.now() - crashedAt <= TTL + 1_000,
      `the leave came ${Date.now() - crashedAt} ms after the crash`,
    );
    for (const m of fleet.list.slice(1)) assert.deepEqual(m.reregistered, []);
  },
));

Deno.test(redisTest(
  "a restore from an older snapshot: a running watcher reports a crash that follows, and no live instance leaves",
  async () => {
    await using server = await RedisServer.start();
    await using fleet = await members(server.url, 4);
    await using w = await watcher(server.url);
    await server.saveSnapshot();
    // Changes the snapshot will not hold.
    await using late = await member(server.url, "api-late");
    await sleep(TTL);
    await server.restoreSnapshot(100);
    // A crash right after the restore: stop beating, do not deregister.
    const crashed = fleet.list[0]!;
    await crashed.driver.close();
    const crashedAt = Date.now();
    await eventually(
      "the crash seen",
      () =>
        w.events.some((e) =>
          e.type === "leave" && e.instance.id === crashed.instance.id
        ),
      TTL * 3 + 1_000,
    );
    assert.ok(Date.now() - crashedAt < TTL * 3 + 1_000);
    await sleep(TTL * 2);
    const live = [...fleet.list.slice(1), late].map((m) => m.instance.id);
    assert.deepEqual(
      w.leaves().filter((e) => live.includes(e.instance.id)),
      [],
      "no live instance left",
    );
    for (const m of fleet.list.slice(1)) assert.deepEqual(m.reregistered, []);
    assert.deepEqual(await coldList(server.url), live.sort());
  },
));

Deno.test(redisTest(
  "CLIENT PAUSE 450 ALL, eight times, with ttl 600 and interval 200: no leave, no new seq",
  async () => {
    await using server = await RedisServer.start();
    await using fleet = await members(server.url, 10);
    await using w = await watcher(server.url);
    const admin = await server.admin();
    for (let i = 0; i < 8; i++) {
      await admin.call("CLIENT", "PAUSE", 450, "ALL");
      await sleep(450 + 400);
    }
    await sleep(TTL * 2);
    assert.deepEqual(w.leaves().map((e) => e.instance.id), []);
    for (const m of fleet.list) assert.deepEqual(m.reregistered, []);
    assert.equal((await coldList(server.url)).length, 10);
  },
));

Deno.test(redisTest(
  "restarts without data give no live instance a new seq",
  async () => {
    await using server = await RedisServer.start();
    await using fleet = await members(server.url, 10);
    for (let i = 0; i < 3; i++) {
      await server.restart(100 + i * 100);
      await eventually(
        "all back",
        async () =>
          (await coldListOrNone(server.url)).length ===
            10,
        TTL * 4,
      );
    }
    for (const m of fleet.list) assert.deepEqual(m.reregistered, []);
  },
));

Deno.test(redisTest(
  "a cold listing during CLIENT PAUSE WRITE fails or lists every live instance",
  async () => {
    await using server = await RedisServer.start();
    await using fleet = await members(server.url, 10);
    const admin = await server.admin();
    await admin.call("CLIENT", "PAUSE", 1_500, "WRITE");
    const until = Date.now() + 1_400;
    let failed = 0;
    let complete = 0;
    while (Date.now() < until) {
      try {
        const listed = await coldList(server.url);
        assert.equal(listed.length, 10, `listed ${listed.join(" ")}`);
        complete++;
      } catch (error) {
        if (error instanceof assert.AssertionError) throw error;
        assert.match(String((error as Error).message), /paused for writes/);
        failed++;
      }
      await sleep(50);
    }
    // The pause outlasts the ttl: some listings had to fail.
    assert.ok(failed > 0, `${complete} complete, ${failed} failed`);
    await sleep(300);
    for (const m of fleet.list) assert.deepEqual(m.reregistered, []);
  },
));

Deno.test(redisTest(
  "a cold listing sent late in a write pause that outlasts the ttl waits for the beats it held back, which come back spread over half an interval",
  async () => {
    await using server = await RedisServer.start();
    // The owners' beats time out during the pause and try again up to half
    // an interval (300 ms) later: they land spread over that after it.
    await using fleet = await members(server.url, 10, "default", {
      interval: 600,
      ttl: 1_800,
    });
    const admin = await server.admin();
    await admin.call("CLIENT", "PAUSE", 2_400, "WRITE");
    // Every lease has lapsed by now; the listing's test write waits out the
    // rest of the pause.
    await sleep(2_200);
    const driver = await RedisDriver.connect({
      url: server.url,
      commandTimeout: 2_000,
    });
    try {
      const listed = (await driver.list({ env: "default" })).map((i) => i.id);
      assert.equal(listed.length, 10, `listed ${listed.join(" ")}`);
    } finally {
      await driver.close();
    }
    for (const m of fleet.list) assert.deepEqual(m.reregistered, []);
  },
));

Deno.test(redisTest(
  "a cold listing after a whole service crashed answers at once, without it",
  async () => {
    await using server = await RedisServer.start();
    const fleet = await members(server.url, 3, "default", {
      interval: 1_000,
      ttl: 3_000,
    });
    // Crashed: their leases lapse with no beat after, like a pause's.
    for (const m of fleet.list) await m.driver.close();
    await sleep(3_100);
    const driver = await RedisDriver.connect({ url: server.url });
    const monitor = await monitorCommands(await server.admin());
    try {
      assert.deepEqual(await driver.list({ env: "default" }), []);
    } finally {
      await monitor.stop();
      await driver.close();
      await fleet[Symbol.asyncDispose]();
    }
    // It read, tested a write, and read once more: no settle reads (for
    // half an interval, 500 ms), since nothing was held back.
    const reads = monitor.seen.filter(({ args, fromLua }) =>
      !fromLua && args[0]?.toLowerCase() === "get" &&
      (args[1] ?? "").endsWith(":p:api")
    );
    assert.equal(reads.length, 2);
  },
));

Deno.test(redisTest(
  "a lagging replica under replica reads: a cold listing fails or lists every live instance, and a deregistered one goes within its lease",
  async () => {
    await using master = await RedisServer.start();
    // The replica replicates through a proxy the test stalls: lag.
    await using link = new TcpProxy(master.port);
    await using replica = await RedisServer.start([
      "--replicaof",
      "127.0.0.1",
      String(link.port),
    ]);
    await replica.replicaInSync();
    await using fleet = await members(master.url, 10);
    const leaver = fleet.list[9]!;
    const replicaList = async (): Promise<string[]> => {
      const main = await RedisDriver.connect({
        url: master.url,
        commandTimeout: 100,
      });
      const reads = await RedisDriver.connect({
        url: replica.url,
        commandTimeout: 100,
      });
      const driver = new RedisDriver(main.client, { readClient: reads.client });
      try {
        return (await driver.list({ env: "default" })).map((i) => i.id);
      } finally {
        await driver.close();
        await reads.close();
        await main.close();
      }
    };
    await eventually(
      "the replica lists all ten",
      async () => (await replicaList()).length === 10,
    );
    // The link stalls for twice the ttl; one instance leaves meanwhile.
    link.blackhole();
    const stalled = Date.now();
    await sleep(INTERVAL);
    await leaver.registry.stop();
    const leftAt = Date.now();
    const short: string[] = [];
    let lastListedLeaver = 0;
    let complete = 0;
    // Complete answers once everything lapsed in the replica's copy: the
    // listing read again from the master.
    let completeAfterLapse = 0;
    while (Date.now() < stalled + 2 * TTL) {
      const listed = await replicaList().catch(() => undefined);
      if (listed) {
        complete++;
        if (Date.now() > stalled + TTL + INTERVAL) completeAfterLapse++;
        if (listed.includes(leaver.instance.id)) lastListedLeaver = Date.now();
        const live = fleet.list.slice(0, 9).filter((m) =>
          !listed.includes(m.instance.id)
        );
        if (live.length > 0) {
          short.push(`${listed.length} listed at ${Date.now() - stalled} ms`);
        }
      }
      await sleep(50);
    }
    link.heal();
    assert.deepEqual(short, [], `of ${complete} complete listings`);
    assert.ok(
      completeAfterLapse > 0,
      `${complete} complete listings, none after the replica's copy lapsed`,
    );
    assert.ok(
      lastListedLeaver > leftAt,
      "the replica lagged: it still listed the instance that left",
    );
    assert.ok(
      lastListedLeaver === 0 || lastListedLeaver - leftAt <= TTL + 100,
      `the deregistered instance was listed ${
        lastListedLeaver - leftAt
      } ms after it left (ttl ${TTL} ms)`,
    );
  },
));

Deno.test(redisTest(
  "an env whose processes all crashed leaves no key without an expiry",
  async () => {
    await using server = await RedisServer.start();
    const admin = await server.admin();
    {
      await using fleet = await members(server.url, 3, "crashed");
      // Crash: stop beating, do not deregister.
      for (const m of fleet.list) await m.driver.close();
    }
    // A cold listing after they lapsed may repair; it must not keep keys.
    await sleep(TTL * 2);
    await coldList(server.url, "crashed");
    const keys = await admin.keys("roster:{crashed}:*");
    assert.ok(keys.length > 0);
    for (const key of keys) {
      const ttl = await admin.pttl(key);
      assert.ok(ttl > 0, `${key} has no expiry (${ttl})`);
    }
  },
));

Deno.test(redisTest(
  "a heartbeat carries no meta: 8 KB of meta, a beat of a few hundred bytes",
  async () => {
    await using server = await RedisServer.start();
    const admin = await server.admin();
    const meta = Object.fromEntries(
      Array.from({ length: 8 }, (_, i) => [`k${i}`, "x".repeat(1_000)]),
    );
    await using m = await member(server.url, "api-big", { meta });
    const monitor = await monitorCommands(admin);
    await sleep(INTERVAL * 3);
    await monitor.stop();
    const beats = monitor.seen.filter(({ args, fromLua }) =>
      !fromLua && args[0]?.toLowerCase() === "evalsha" &&
      args.some((arg) => arg.startsWith("api-big"))
    );
    assert.ok(beats.length >= 2, `${beats.length} beats`);
    for (const beat of beats) {
      const size = beat.args.reduce((total, arg) => total + arg.length, 0);
      assert.ok(size < 600, `a beat sent ${size} bytes`);
    }
    // The record still has the meta, for listings.
    const [listed] = await m.driver.list({ env: "default" });
    assert.equal(listed?.meta.k7?.length, 1_000);
  },
));

Deno.test(redisTest(
  "a leader across a restart without data: never two valid leaders, terms only rise",
  async () => {
    await using server = await RedisServer.start();
    await using a = await member(server.url, "api-a");
    await using b = await member(server.url, "api-b");
    const windows: { id: string; term: number; at: number }[] = [];
    const controller = new AbortController();
    const lead = async (m: Member) => {
      while (!controller.signal.aborted) {
        const leadership = await m.registry.standby({
          signal: controller.signal,
        }).catch(() => undefined);
        if (!leadership) return;
        while (leadership.valid() && !controller.signal.aborted) {
          windows.push({
            id: m.instance.id,
            term: leadership.term,
            at: performance.now(),
          });
          await sleep(5);
        }
        await leadership.release();
      }
    };
    const running = [lead(a), lead(b)];
    await eventually("a leader", () => windows.length > 0, TTL * 3);
    for (let i = 0; i < 3; i++) {
      await server.restart(50);
      await sleep(TTL * 3);
    }
    controller.abort();
    await Promise.all(running);
    // Terms rise in the order they were held, and holders never interleave
    // within 10 ms of each other.
    for (let i = 1; i < windows.length; i++) {
      const before = windows[i - 1]!;
      const now = windows[i]!;
      assert.ok(now.term >= before.term, "terms only rise");
      if (now.id !== before.id) {
        assert.ok(now.term > before.term, "a new holder has a higher term");
      }
    }
  },
));
