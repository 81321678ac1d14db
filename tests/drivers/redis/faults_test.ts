import assert from "node:assert/strict";
import { registration } from "../../_registration.ts";
import {
  AlreadyRegisteredError,
  type Clock,
  Registry,
  systemClock,
} from "../../../mod.ts";
import { RedisDriver } from "../../../drivers/redis/mod.ts";
import {
  monitorCommands,
  RedisServer,
  redisTest,
  sleep,
} from "../../_redis_server.ts";
import { captureLogs } from "../../_log_capture.ts";
import { channellessUser } from "./_channelless_user.ts";
import { startWatcher } from "./_watcher.ts";
import { figure } from "../../_figures.ts";
import { assertInvariants } from "../../_invariants.ts";
import { eventually } from "../../discovery/_discovery_suite.ts";

/** A watcher on a connection of its own, collecting every event. */
function watcher(url: string) {
  return startWatcher(url, {
    commandTimeout: 500,
    heartbeatInterval: INTERVAL,
    ttl: TTL,
  });
}

const INTERVAL = 300;
const TTL = 1200;

async function member(
  url: string,
  id: string,
  options: { clock?: Clock; env?: string } = {},
) {
  const timeout = Math.floor(Math.min(INTERVAL / 2, TTL / 3));
  const driver = await RedisDriver.connect({ url, commandTimeout: timeout });
  const registry = new Registry({
    driver,
    service: "api",
    id,
    heartbeatInterval: INTERVAL,
    ttl: TTL,
    clock: options.clock,
    env: options.env,
  });
  const reregistered: number[] = [];
  registry.on(
    "reregistered",
    ({ instance }) => reregistered.push(instance.seq),
  );
  const instance = await registry.start();
  return {
    driver,
    registry,
    instance,
    reregistered,
    async [Symbol.asyncDispose]() {
      await registry.stop();
      await driver.close();
    },
  };
}

/** Polls until `ids` are all listed; returns how long that took. */
async function waitListed(
  driver: RedisDriver,
  ids: string[],
  limitMs: number,
  env = "default",
): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < limitMs) {
    try {
      const listed = (await driver.list({ env })).map((i) => i.id);
      if (ids.every((id) => listed.includes(id))) return Date.now() - start;
    } catch { /* Redis still away */ }
    await sleep(10);
  }
  throw new Error(`${ids.join(", ")} not all listed within ${limitMs}ms`);
}

function commandStats(info: string): Map<string, number> {
  const stats = new Map<string, number>();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    stats.set(match[1] as string, Number(match[2]));
  }
  return stats;
}

Deno.test(redisTest(
  "a heartbeat is exactly one Redis command, and survives a lost script cache",
  async () => {
    await using server = await RedisServer.start();
    const admin = await server.admin();
    await using m = await member(server.url, "api-1");
    await m.registry.stop();
    const registration = {
      id: "bench-1",
      service: "api",
      env: "default",
      version: "1",
      addr: "",
      meta: {},
      hostname: "h",
      pid: 1,
      owner: crypto.randomUUID(),
      status: "healthy" as const,
      ttl: TTL,
      heartbeatInterval: TTL / 3,
    };
    await m.driver.register(registration);
    // MONITOR shows every command a client sends, and marks those that
    // scripts run inside Redis with the source "lua".
    const monitor = await monitorCommands(admin);
    for (let i = 0; i < 50; i++) await m.driver.heartbeat(registration);
    await monitor.stop();
    // Scripts' own commands show with the source "lua"; the client sent
    // one EVALSHA a beat and nothing else.
    assert.deepEqual(
      monitor.seen.filter((c) => !c.fromLua).map((c) =>
        String(c.args[0]).toLowerCase()
      ),
      Array(50).fill("evalsha"),
    );

    await admin.script("FLUSH");
    await admin.config("RESETSTAT");
    const beat = await m.driver.heartbeat(registration);
    assert.equal(beat.reregistered, false);
    await m.driver.heartbeat(registration);
    const after = commandStats(await admin.info("commandstats"));
    // One EVALSHA that met NOSCRIPT, one EVAL that reloaded it, then EVALSHA again.
    assert.equal(after.get("eval"), 1);
    assert.equal(after.get("evalsha"), 2);
  },
));

Deno.test(redisTest(
  "after FLUSHALL every live instance is back within one heartbeat interval, under its seq, and no watcher sees a leave",
  async () => {
    await using server = await RedisServer.start();
    const admin = await server.admin();
    await using a = await member(server.url, "api-a");
    await using b = await member(server.url, "api-b");
    await using w = await watcher(server.url);
    await eventually("watching", () => w.seen.events.length === 2);
    await admin.flushall();
    const took = await waitListed(
      a.driver,
      ["api-a", "api-b"],
      INTERVAL * 1.1 + 100,
    );
    figure("FLUSHALL", "back after (ms)", took);
    assert.ok(took <= INTERVAL * 1.1 + 100, `took ${took}ms`);
    // Their leases still ran: restored under the same seq, so nothing moved.
    const listed = await a.driver.list({ env: "default" });
    assert.deepEqual(
      listed.map((i) => `${i.id}:${i.seq}`),
      [`api-a:${a.instance.seq}`, `api-b:${b.instance.seq}`],
    );
    assert.deepEqual(a.reregistered, []);
    assert.deepEqual(b.reregistered, []);
    await sleep(INTERVAL * 2);
    assert.deepEqual(
      w.seen.events.map((e) => `${e.type}:${e.instance.id}`),
      ["join:api-a", "join:api-b"],
      "no leave and no new join",
    );
    await assertInvariants({
      driver: w.driver,
      live: [a.registry, b.registry],
      events: w.seen.events,
    });
    // A new registration after the loss still gets a higher seq.
    await using c = await member(server.url, "api-c");
    assert.ok(c.instance.seq > b.instance.seq);
  },
));

Deno.test(redisTest(
  "after a Redis restart with data lost every live instance is back within one heartbeat interval",
  async () => {
    await using server = await RedisServer.start();
    await using a = await member(server.url, "api-a");
    await using b = await member(server.url, "api-b");
    await using w = await watcher(server.url);
    await eventually("watching", () => w.seen.events.length === 2);
    await server.restart(INTERVAL * 2);
    const took = await waitListed(a.driver, ["api-a", "api-b"], INTERVAL * 4);
    // The driver reconnects within half an interval and the loop retries
    // within half an interval; a little more for a loaded machine.
    assert.ok(took <= INTERVAL + 150, `back after ${took}ms`);
    figure("Redis restarted with its data lost", "back after (ms)", took);
    // Listed as soon as Redis has the beat; the loop learns of it when the
    // reply arrives, a moment later.
    await eventually(
      "both loops healthy",
      () =>
        a.registry.heartbeatState === "healthy" &&
        b.registry.heartbeatState === "healthy",
      INTERVAL * 2,
    );
    await sleep(INTERVAL * 3);
    assert.deepEqual(
      w.seen.events.map((e) => `${e.type}:${e.instance.id}`),
      ["join:api-a", "join:api-b"],
      "no leave reported",
    );
    await assertInvariants({
      driver: a.driver,
      live: [a.registry, b.registry],
      events: w.seen.events,
    });
  },
));

Deno.test(
  redisTest("a client clock off by an hour changes nothing", async () => {
    await using server = await RedisServer.start();
    const admin = await server.admin();
    for (const skew of [3_600_000, -3_600_000]) {
      const skewed: Clock = { ...systemClock, now: () => Date.now() + skew };
      const env = `skew${skew > 0 ? "ahead" : "behind"}`;
      await using m = await member(server.url, `api-${env}`, {
        clock: skewed,
        env,
      });
      const [seconds] = await admin.time();
      const redisNow = Number(seconds) * 1000;
      assert.ok(
        Math.abs(m.instance.registeredAt - redisNow) < 2_000,
        "times come from Redis",
      );
      await using peer = await member(server.url, "peer", { env });
      await sleep(TTL * 1.5);
      const listed = (await peer.driver.list({ env })).map((i) => i.id);
      assert.deepEqual(
        listed,
        [`api-${env}`, "peer"],
        "still live, oldest first",
      );
      assert.equal(m.reregistered.length, 0);
    }
  }),
);

Deno.test(redisTest(
  "Redis frozen longer than the ttl: live instances are not evicted when it thaws",
  async () => {
    await using server = await RedisServer.start();
    const admin = await server.admin();
    await using a = await member(server.url, "api-a");
    await using b = await member(server.url, "api-b");
    await using c = await member(server.url, "api-c");
    await using w = await watcher(server.url);
    await eventually("watching", () => w.seen.events.length === 3);
    await sleep(INTERVAL);
    await admin.call("CLIENT", "PAUSE", String(TTL * 2), "ALL");
    await sleep(TTL * 2 + 50);
    // Their expiries passed during the pause, so nothing lists them until
    // they beat again, which they do within one interval; the outage they
    // report spares them from the purge.
    const direct = await RedisDriver.connect({ url: server.url });
    try {
      const took = await waitListed(
        direct,
        ["api-a", "api-b", "api-c"],
        INTERVAL * 3,
      );
      figure("Redis paused for 2 ttl", "listed again after (ms)", took);
    } finally {
      await direct.close();
    }
    await sleep(INTERVAL * 2);
    for (const m of [a, b, c]) {
      assert.deepEqual(
        m.reregistered,
        [],
        `${m.instance.id} was evicted and had to register again`,
      );
      assert.equal(m.registry.heartbeatState, "healthy");
    }
    await sleep(INTERVAL * 3);
    assert.deepEqual(
      w.seen.events.map((e) => e.type),
      ["join", "join", "join"],
      "no leave was reported" +
        JSON.stringify(
          w.seen.events.map((
            e,
          ) => [e.type, e.reason, e.instance.id, e.instance.seq]),
        ),
    );
    await assertInvariants({
      driver: a.driver,
      live: [a.registry, b.registry, c.registry],
      events: w.seen.events,
    });
  },
));

Deno.test(redisTest(
  "an ACL user limited to the prefix works; a wrong password or too narrow rights fail clearly",
  async () => {
    await using server = await RedisServer.start();
    const admin = await server.admin();
    await admin.call(
      "ACL",
      "SETUSER",
      "roster",
      "on",
      ">right-pass",
      // The README's line: keys and channels under the prefix.
      "~roster:*",
      "&roster:*",
      "+@all",
      "-@dangerous",
      "+info",
    );
    await admin.call(
      "ACL",
      "SETUSER",
      "narrow",
      "on",
      ">narrow-pass",
      "~other:*",
      "+@all",
    );
    const url = (user: string, pass: string) =>
      `redis://${user}:${pass}@127.0.0.1:${server.port}`;

    await using ok = await member(url("roster", "right-pass"), "api-acl");
    assert.deepEqual(
      (await ok.driver.list({ env: "default" })).map((i) => i.id),
      ["api-acl"],
    );
    // Messages (roster drain, roster maintenance) need the channel rights.
    const got = Promise.withResolvers<unknown>();
    const stop = await ok.registry.onMessage((m) => got.resolve(m.data));
    assert.equal(await ok.registry.send("api-acl", "drain?"), 1);
    assert.equal(await got.promise, "drain?");
    await stop();

    await assert.rejects(
      RedisDriver.connect({ url: url("roster", "wrong-pass") }),
      (error: unknown) => {
        const message = (error as Error).message;
        assert.match(
          message,
          /Cannot connect to Redis at redis:\/\/roster:\*\*\*@127\.0\.0\.1:\d+\/?: WRONGPASS/,
        );
        assert.doesNotMatch(message, /wrong-pass/);
        return true;
      },
    );

    const narrow = await RedisDriver.connect({
      url: url("narrow", "narrow-pass"),
    });
    try {
      const registry = new Registry({ driver: narrow, service: "api" });
      await assert.rejects(registry.start(), /NOPERM/);
      await registry.stop();
    } finally {
      await narrow.close();
    }
  },
));

Deno.test(redisTest(
  "an ACL user without the prefix's channels still registers and watches: waits poll, with one warning naming the grant",
  async () => {
    await using logs = await captureLogs();
    await using server = await RedisServer.start();
    const url = await channellessUser(server);
    const writer = await RedisDriver.connect({ url });
    const reader = await RedisDriver.connect({ url });
    try {
      const env = "no-channels";
      await writer.register(registration({ env, id: "a" }));
      let { cursor } = await reader.snapshot(env);
      const seen: string[] = [];
      const deadline = performance.now() + 10_000;
      const watching = (async () => {
        while (seen.length === 0 && performance.now() < deadline) {
          const batch = await reader.changes(env, cursor, { waitMs: 5_000 });
          seen.push(...batch.changes.map((c) => `${c.type} ${c.instance.id}`));
          cursor = batch.cursor;
        }
      })();
      await writer.register(registration({ env, id: "b" }));
      await watching;
      assert.deepEqual(seen, ["join b"]);
      const warnings = logs.messages().filter((m) =>
        m.includes("Redis refused to subscribe")
      );
      assert.equal(warnings.length, 1, warnings.join("\n"));
      assert.match(warnings[0]!, /NOPERM.*&roster:\*/);
    } finally {
      await reader.close();
      await writer.close();
    }
  },
));

Deno.test(redisTest(
  "corrupt or foreign values in the registry's keys are skipped with a warning, not a crash",
  async () => {
    await using logs = await captureLogs();
    await using server = await RedisServer.start();
    const admin = await server.admin();
    await using good = await member(server.url, "good");
    const base = "roster:{default}:";
    // A record whose slot holds its seq and a future expiry, but whose json
    // is broken; and a line with no fields at all.
    const slots = await admin.strlen(`${base}b:api`);
    const slot = slots / 60;
    const seq = "1".padStart(16, "0");
    await admin.setrange(
      `${base}b:api`,
      slot * 60,
      `${Date.now() + 600_000}`.padStart(13, "0") + "h" + seq +
        "0123456789abcdef-" + "0".repeat(13),
    );
    await admin.append(
      `${base}p:api`,
      `worse\t1\t2\t3\t${slot}\t{not json\ngarbage without fields\n`,
    );
    const listed = await good.driver.list({ env: "default" });
    assert.deepEqual(listed.map((i) => i.id), ["good"]);
    assert.ok(
      logs.messages().filter((m) =>
        m.includes("Skipping a corrupt or foreign registry entry")
      ).length >= 2,
    );
    // A foreign entry in the change log is skipped the same way.
    const { cursor } = await good.driver.snapshot("default");
    const n = Number(cursor.slice(cursor.lastIndexOf(":") + 1));
    await admin.xadd(`${base}log`, `${n + 1}-0`, "c", "junk\tjunk");
    await admin.hincrby(`${base}meta`, "n", 1);
    const batch = await good.driver.changes("default", cursor, { waitMs: 0 });
    assert.deepEqual(batch.changes, []);
    assert.notEqual(batch.cursor, cursor, "the reader moves past it");
  },
));

Deno.test(redisTest(
  "100 concurrent registrations of one id from four connections: exactly one owner",
  async () => {
    await using server = await RedisServer.start();
    const drivers = await Promise.all(
      Array.from({ length: 4 }, () => RedisDriver.connect({ url: server.url })),
    );
    try {
      const base = registration({ id: "contested", ttl: TTL });
      const results = await Promise.allSettled(
        Array.from(
          { length: 100 },
          (_, i) =>
            drivers[i % 4]!.register({
              ...base,
              owner: `owner-${i}`,
              addr: `a-${i}`,
            }),
        ),
      );
      const won = results.filter((r) => r.status === "fulfilled");
      assert.equal(won.length, 1);
      assert.ok(
        results.every((r) =>
          r.status === "fulfilled" || r.reason instanceof AlreadyRegisteredError
        ),
      );
      const listed = await drivers[0]!.list({ env: "default" });
      assert.equal(listed.length, 1);
      assert.equal(
        listed[0]?.addr,
        (won[0] as PromiseFulfilledResult<{ addr: string }>).value.addr,
      );
    } finally {
      for (const driver of drivers) await driver.close();
    }
  },
));
