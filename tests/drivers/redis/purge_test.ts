/**
 * The Redis purge works a bounded piece per call: a pass over a service
 * bigger than one call's budget keeps its place in meta and goes on with
 * the next call, so no call blocks Redis for long (bench/purge_bench.ts
 * measures how long), and the work of a pass grows linearly with the
 * service. These tests check that the pieces add up to the whole: every
 * lapsed entry leaves once, every live one stays with its seq, and the
 * records are compacted across calls without losing what was appended or
 * left in between.
 */

import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import type { Registration } from "../../../contract/driver.ts";
import { RedisDriver } from "../../../drivers/redis/mod.ts";
import { PURGE_LIMIT, PURGE_LINES } from "../../../drivers/redis/_scripts.ts";
import { registerAll, registration } from "../../_registration.ts";
import {
  monitorCommands,
  RedisServer,
  redisTest,
  sleep,
} from "../../_redis_server.ts";
import { collect, eventually } from "../../discovery/_discovery_suite.ts";
import { AlreadyRegisteredError, Registry } from "../../../mod.ts";
import { SCRIPTS } from "../../../drivers/redis/_calls.ts";
import { startWatcher } from "./_watcher.ts";

const TTL = 400;
/**
 * The big pass's ttl: long enough that its live entries beat on through a
 * loaded machine, where 300 beats and a purge a round can take longer than
 * 400 ms; that test is about what a pass removes, not about timing.
 */
const BIG_PASS_TTL = 2_000;

/** The change log's leaves, as `id` → how many. */
async function leaves(admin: Redis, env: string): Promise<Map<string, number>> {
  const entries = await admin.xrange(`roster:{${env}}:log`, "-", "+");
  const out = new Map<string, number>();
  for (const [, fields] of entries) {
    const [kind, , , id] = (fields[1] ?? "").split("\t");
    if (kind === "l" && id) out.set(id, (out.get(id) ?? 0) + 1);
  }
  return out;
}

/** The records `p:S` holds, by id. */
async function records(
  admin: Redis,
  env: string,
  service: string,
): Promise<string[]> {
  const packed = await admin.get(`roster:{${env}}:p:${service}`) ?? "";
  return packed.split("\n").slice(1).filter((line) => line !== "")
    .map((line) => line.split("\t")[0] ?? "");
}

/** Beats the live ones and purges, until `done` or the deadline. */
async function purgeUntil(
  driver: RedisDriver,
  env: string,
  live: Registration[],
  done: () => Promise<boolean>,
  what: string,
): Promise<number> {
  const deadline = Date.now() + 20_000;
  let calls = 0;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within 20 s`);
    await Promise.all(live.map((r) => driver.heartbeat(r)));
    await driver.purge(env);
    calls++;
    await sleep(10);
  }
  return calls;
}

Deno.test(redisTest(
  "a purge pass bigger than one call removes every lapsed entry once, over several calls, and keeps every live one with its seq",
  async () => {
    await using redis = await RedisServer.start();
    const admin = await redis.admin();
    const driver = await RedisDriver.connect({ url: redis.url });
    try {
      const env = "big";
      const all = Array.from(
        { length: 3 * PURGE_LINES },
        (_, i) => registration({ env, id: `i-${i}`, ttl: BIG_PASS_TTL }),
      );
      const live = all.filter((_, i) => i % 10 === 0);
      const crashed = all.filter((_, i) => i % 10 !== 0);
      const seqs = await registerAll(driver, all);
      // The crashed stop beating; the live beat on while the rest lapse.
      const lapsed = Date.now() + BIG_PASS_TTL + 100;
      while (Date.now() < lapsed) {
        await Promise.all(live.map((r) => driver.heartbeat(r)));
        await sleep(50);
      }
      let sawCursor = false;
      const calls = await purgeUntil(driver, env, live, async () => {
        sawCursor ||= await admin.hexists(`roster:{${env}}:meta`, "k:api") ===
          1;
        return await admin.hlen(`roster:{${env}}:ids`) === live.length;
      }, "every crashed entry removed");
      // A pass needs ceil(crashed / PURGE_LIMIT) calls at least.
      assert.ok(
        calls >= Math.ceil(crashed.length / PURGE_LIMIT),
        `${calls} purge calls removed ${crashed.length} entries`,
      );
      assert.ok(sawCursor, "a pass kept its place between calls");
      const left = await leaves(admin, env);
      for (const r of crashed) assert.equal(left.get(r.id), 1, r.id);
      for (const r of live) assert.equal(left.get(r.id), undefined, r.id);
      const listed = await driver.list({ env });
      assert.deepEqual(
        listed.map((i) => [i.id, i.seq]).sort(),
        live.map((r) => [r.id, seqs.get(r.id)]).sort(),
      );
    } finally {
      await driver.close();
    }
  },
));

Deno.test(redisTest(
  "a compacting pass spread over calls keeps records appended and drops records left in between",
  async () => {
    await using redis = await RedisServer.start();
    const admin = await redis.admin();
    const driver = await RedisDriver.connect({ url: redis.url });
    try {
      const env = "compact";
      const all = Array.from(
        { length: 3 * PURGE_LINES },
        (_, i) => registration({ env, id: `i-${i}`, ttl: 60_000 }),
      );
      await registerAll(driver, all);
      // Most leave: garbage outnumbers live records, so the next pass copies.
      const staying = all.filter((_, i) => i % 4 === 0);
      for (const r of all.filter((_, i) => i % 4 !== 0)) {
        await driver.deregister(r);
      }
      await admin.hset(`roster:{${env}}:meta`, "d:api", "0");
      await driver.purge(env);
      assert.equal(
        await admin.exists(`roster:{${env}}:n:api`),
        1,
        "the first call of the pass began a copy",
      );
      // Between the pass's calls: one joins (appended past the pass's
      // place) and one the pass has already copied leaves.
      const late = registration({ env, id: "late", ttl: 60_000 });
      await driver.register(late);
      const gone = staying[0]!;
      await driver.deregister(gone);
      await purgeUntil(
        driver,
        env,
        [],
        async () =>
          await admin.exists(`roster:{${env}}:n:api`) === 0 &&
          await admin.hexists(`roster:{${env}}:meta`, "k:api") === 0,
        "the pass ended",
      );
      const kept = await records(admin, env, "api");
      assert.ok(kept.includes("late"), "the record appended mid-pass is kept");
      assert.ok(
        kept.length <= staying.length + 1,
        `${kept.length} records after compaction, ${staying.length} live`,
      );
      const listed = (await driver.list({ env })).map((i) => i.id).sort();
      assert.deepEqual(
        listed,
        [...staying.slice(1).map((r) => r.id), "late"].sort(),
      );
    } finally {
      await driver.close();
    }
  },
));

Deno.test(redisTest(
  "a pass whose records were lost between its calls starts again and never renames a stale copy over them",
  async () => {
    await using redis = await RedisServer.start();
    const admin = await redis.admin();
    const driver = await RedisDriver.connect({ url: redis.url });
    try {
      const env = "lost";
      const all = Array.from(
        { length: 3 * PURGE_LINES },
        (_, i) => registration({ env, id: `i-${i}`, ttl: 60_000 }),
      );
      const seqs = await registerAll(driver, all);
      const staying = all.filter((_, i) => i % 4 === 0);
      for (const r of all.filter((_, i) => i % 4 !== 0)) {
        await driver.deregister(r);
      }
      await admin.hset(`roster:{${env}}:meta`, "d:api", "0");
      await driver.purge(env);
      assert.equal(await admin.exists(`roster:{${env}}:n:api`), 1);
      await admin.del(`roster:{${env}}:p:api`);
      // The live ones beat: each writes its record again.
      await purgeUntil(
        driver,
        env,
        staying,
        async () =>
          (await records(admin, env, "api")).length === staying.length &&
          await admin.hexists(`roster:{${env}}:meta`, "k:api") === 0,
        "records rewritten and the pass ended",
      );
      const listed = await driver.list({ env });
      assert.deepEqual(
        listed.map((i) => [i.id, i.seq]).sort(),
        staying.map((r) => [r.id, seqs.get(r.id)]).sort(),
      );
    } finally {
      await driver.close();
    }
  },
));

/** Runs purges for `ms`. */
async function purgeFor(driver: RedisDriver, env: string, ms: number) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    await driver.purge(env);
    await sleep(20);
  }
}

/** The change log as `kind reason service id` lines. */
async function changeLog(admin: Redis, env: string): Promise<string[]> {
  return (await admin.xrange(`roster:{${env}}:log`, "-", "+")).map((
    [, fields],
  ) => (fields[1] ?? "").split("\t").slice(0, 4).join(" "));
}

// The cases below came from a review that tried to break the bounded
// purge; each failed before its fix.

Deno.test(redisTest(
  "a record written again after the beat slots were lost sits beside its old copy: a crash still leaves once",
  async () => {
    await using redis = await RedisServer.start();
    const admin = await redis.admin();
    const driver = await RedisDriver.connect({ url: redis.url });
    try {
      const env = "dup";
      const a = registration({ env, id: "a", ttl: TTL });
      await driver.register(a);
      await driver.register(registration({ env, id: "other", ttl: 60_000 }));
      await admin.del(`roster:{${env}}:b:api`);
      // Rebuilt from ids: the record is appended a second time.
      await driver.heartbeat(a);
      assert.equal(
        (await records(admin, env, "api")).filter((id) => id === "a").length,
        2,
      );
      // a crashes.
      await sleep(TTL + 700);
      await purgeFor(driver, env, 1_500);
      assert.equal((await leaves(admin, env)).get("a"), 1);
      const free = await admin.hget(`roster:{${env}}:meta`, "f:api") ?? "";
      const slots = free.split(",").filter(Boolean);
      assert.equal(new Set(slots).size, slots.length, `free list ${free}`);
    } finally {
      await driver.close();
    }
  },
));

Deno.test(redisTest(
  "an id registered in another service after ids was lost: the old service's lapse still leaves",
  async () => {
    await using redis = await RedisServer.start();
    const admin = await redis.admin();
    const driver = await RedisDriver.connect({ url: redis.url });
    try {
      const env = "moved";
      await driver.register(
        registration({ env, id: "a", service: "api", ttl: TTL }),
      );
      await admin.del(`roster:{${env}}:ids`);
      await driver.register(
        registration({ env, id: "a", service: "web", ttl: 60_000 }),
      );
      await sleep(TTL + 800);
      await purgeFor(driver, env, 1_500);
      assert.ok((await changeLog(admin, env)).includes("l e api a"));
      assert.deepEqual(
        (await driver.list({ env })).map((i) => `${i.service}/${i.id}`),
        ["web/a"],
      );
    } finally {
      await driver.close();
    }
  },
));

Deno.test(redisTest(
  "an id whose lapsed entry sits deep in a big service registers in another service: the purge of that service goes on as long as its pass",
  async () => {
    await using redis = await RedisServer.start();
    const driver = await RedisDriver.connect({ url: redis.url });
    try {
      const env = "deep";
      await registerAll(
        driver,
        Array.from(
          { length: PURGE_LINES + 50 },
          (_, i) =>
            registration({ env, id: `big-${i}`, service: "big", ttl: 60_000 }),
        ),
      );
      await driver.register(
        registration({ env, id: "x", service: "big", ttl: TTL }),
      );
      await sleep(TTL + 1_000);
      await driver.register(
        registration({ env, id: "x", service: "small", ttl: 60_000 }),
      );
      assert.ok(
        (await driver.list({ env })).some((i) =>
          i.id === "x" && i.service === "small"
        ),
      );
      // A live entry in another service is still a conflict.
      await assert.rejects(
        driver.register(
          registration({ env, id: "big-1", service: "small", ttl: 60_000 }),
        ),
        AlreadyRegisteredError,
      );
    } finally {
      await driver.close();
    }
  },
));

Deno.test(redisTest(
  "records lost, written again by the beats, then a crash: it leaves within a bounded time",
  async () => {
    await using redis = await RedisServer.start();
    const admin = await redis.admin();
    const driver = await RedisDriver.connect({ url: redis.url });
    try {
      const env = "plost";
      const a = registration({ env, id: "a", ttl: TTL });
      const b = registration({ env, id: "b", ttl: TTL });
      await driver.register(a);
      await driver.register(b);
      await admin.del(`roster:{${env}}:p:api`);
      for (const end = Date.now() + 1_000; Date.now() < end;) {
        await driver.heartbeat(a);
        await driver.heartbeat(b);
        await driver.purge(env);
        await sleep(100);
      }
      // a crashes; b beats on.
      const crashed = Date.now();
      await eventually("a's leave", async () => {
        await driver.heartbeat(b);
        await driver.purge(env);
        return (await changeLog(admin, env)).includes("l e api a");
      }, 3_000);
      assert.ok(Date.now() - crashed < 3_000);
    } finally {
      await driver.close();
    }
  },
));

Deno.test(redisTest(
  "a graced instance whose records were lost writes its record again and is listed",
  async () => {
    await using redis = await RedisServer.start();
    const admin = await redis.admin();
    const driver = await RedisDriver.connect({ url: redis.url });
    try {
      const env = "graced";
      const a = registration({ env, id: "a", ttl: TTL });
      await driver.register(a);
      await driver.purge(env);
      // A pause past the ttl: the purge sent during it reports the outage
      // and graces a.
      await admin.call("CLIENT", "PAUSE", "700", "ALL");
      await driver.purge(env);
      const slot = await admin.getrange(`roster:{${env}}:b:api`, 0, 59);
      assert.equal(slot[46], "g", slot);
      // The records are lost and a purge scans before a's next beat.
      await admin.del(`roster:{${env}}:p:api`);
      await admin.hset(`roster:{${env}}:meta`, "d:api", "0");
      await driver.purge(env);
      await eventually("a listed again", async () => {
        await driver.heartbeat(a);
        return (await driver.list({ env })).some((i) => i.id === "a");
      }, 2_000);
    } finally {
      await driver.close();
    }
  },
));

Deno.test(redisTest(
  "one process purges an env when a service falls due and the others check a moment after; when it stops, one of them takes over",
  async () => {
    await using redis = await RedisServer.start();
    const admin = await redis.admin();
    const connect = () => RedisDriver.connect({ url: redis.url });
    const a = await connect();
    const b = await connect();
    const c = await connect();
    try {
      const env = "duty";
      const meta = `roster:{${env}}:meta`;
      await a.register(registration({ env, id: "x", ttl: 2_000 }));
      /**
       * The first's and the second's wait for the same next due time, and
       * (an upper bound of) how far apart their calls were made.
       */
      const askInTurn = async (first: RedisDriver, second: RedisDriver) => {
        const started = performance.now();
        const firstWait = await first.purge(env);
        const secondWait = await second.purge(env);
        return { firstWait, secondWait, apart: performance.now() - started };
      };
      // Due now: whoever asks first purges, and is recorded as the purger.
      await admin.hset(meta, "d:api", "0");
      let turn = await askInTurn(a, b);
      const purger = await admin.hget(meta, "pw");
      assert.ok(purger, "the purger is recorded");
      assert.ok(
        turn.secondWait >= turn.firstWait + 250 - turn.apart,
        `a follower comes 250 ms after the purger: ${JSON.stringify(turn)}`,
      );
      assert.equal(
        await admin.hget(meta, "pw"),
        purger,
        "a follower that found nothing due changed nothing",
      );

      // a purges no more; the service falls due again, and the first
      // follower to find it so (once a's token lapsed) takes over.
      await admin.hset(meta, "d:api", "0");
      await eventually(
        "a's token lapsed",
        async () => await admin.exists(`roster:{${env}}:purge`) === 0,
        2_000,
      );
      turn = await askInTurn(b, c);
      const next = await admin.hget(meta, "pw");
      assert.ok(next && next !== purger, "b is recorded as the purger");
      assert.ok(
        turn.secondWait >= turn.firstWait + 250 - turn.apart,
        `the new purger comes on time, the others after: ${
          JSON.stringify(turn)
        }`,
      );
      assert.deepEqual((await c.list({ env })).map((i) => i.id), ["x"]);
    } finally {
      await Promise.all([a, b, c].map((driver) => driver.close()));
    }
  },
));

/**
 * Two drivers on `env`: the first registered `x` (api, ttl 2 s) and, with
 * the service made due, purged it, so it is the env's recorded purger.
 */
async function purgerAndFollower(redis: RedisServer, env: string) {
  const admin = await redis.admin();
  const purger = await RedisDriver.connect({ url: redis.url });
  const follower = await RedisDriver.connect({ url: redis.url });
  const meta = `roster:{${env}}:meta`;
  await purger.register(registration({ env, id: "x", ttl: 2_000 }));
  await admin.hset(meta, "d:api", "0");
  await purger.purge(env);
  return {
    admin,
    purger,
    follower,
    meta,
    async [Symbol.asyncDispose]() {
      await purger.close();
      await follower.close();
    },
  };
}

Deno.test(redisTest(
  "a follower's purge right after a change read that found nothing due sends nothing; once a service is due it asks Redis",
  async () => {
    await using redis = await RedisServer.start();
    const env = "hint";
    await using pair = await purgerAndFollower(redis, env);
    const { admin, follower, meta } = pair;
    const scripts = async () => {
      const stats = await admin.info("commandstats");
      return Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1] ?? 0) +
        Number(/cmdstat_eval:calls=(\d+)/.exec(stats)?.[1] ?? 0);
    };
    const { cursor } = await follower.snapshot(env);
    await follower.changes(env, cursor, { waitMs: 0 });
    const before = await scripts();
    const wait = await follower.purge(env);
    assert.equal(await scripts(), before, "no script was sent");
    assert.ok(wait >= 250, `a follower's wait: ${wait} ms`);

    // Due: the next read says so, and the purge goes to Redis.
    await admin.hset(meta, "d:api", "0");
    await follower.changes(env, cursor, { waitMs: 0 });
    const due = await scripts();
    await follower.purge(env);
    assert.ok(await scripts() > due, "the purge was sent");
  },
));

Deno.test(redisTest(
  "a process's beats offer to purge every 5 s while their offers purge, and half as often once a watcher purges on time",
  async () => {
    await using redis = await RedisServer.start();
    const admin = await redis.admin();
    const beating = await RedisDriver.connect({ url: redis.url });
    const watching = await RedisDriver.connect({ url: redis.url });
    const watcher = new Registry({
      driver: watching,
      env: "watched",
      ttl: TTL,
      heartbeatInterval: 100,
    });
    const controller = new AbortController();
    const events = collect(
      watcher.watch("api", {
        current: true,
        signal: controller.signal,
      }),
    );
    const monitor = await monitorCommands(admin);
    try {
      // Watched, a ttl of 2 s: the service falls due about every 1.9 s and
      // the watcher purges it within a few ms, so an offer all but never
      // lands in between. Unwatched, a ttl of 400 ms: every offer finds the
      // service due.
      const regs = [
        registration({ env: "watched", id: "a", ttl: 2_000 }),
        registration({ env: "unwatched", id: "a", ttl: TTL }),
      ];
      // Beat both envs every 100 ms until each has made two offers.
      const offers = (env: string) =>
        monitor.seen.filter(({ args }) =>
          args[0]?.toUpperCase().startsWith("EVAL") &&
          args[1] === SCRIPTS.purgeScan.sha && args.at(-1) === "0" &&
          args[3] === `roster:{${env}}:purge`
        ).map(({ at }) => at);
      await eventually("two offers in each env", async () => {
        for (const reg of regs) await beating.heartbeat(reg);
        await sleep(100);
        return offers("watched").length >= 2 && offers("unwatched").length >= 3;
      }, 30_000);
      const gaps = (at: number[]) => at.slice(1).map((t, i) => t - at[i]!);
      // Not a speed figure: what is checked is which offers were skipped.
      // Unwatched, every offer purges, so they stay 5 s apart; watched, the
      // first finds nothing due, so the next comes 10 s after it.
      assert.ok(
        gaps(offers("unwatched")).every((gap) => gap >= 4_900 && gap < 9_000),
        `unwatched offers: ${JSON.stringify(gaps(offers("unwatched")))}`,
      );
      assert.ok(
        (gaps(offers("watched"))[0] ?? 0) >= 9_900,
        `watched offers: ${JSON.stringify(gaps(offers("watched")))}`,
      );
    } finally {
      await monitor.stop();
      controller.abort();
      await events.done;
      await watcher.stop();
      await beating.close();
      await watching.close();
    }
  },
));

Deno.test(redisTest(
  "the env's purger that finds the token held (a heartbeat's offer scanning) comes back when it lapses, not a follower's moment later",
  async () => {
    await using redis = await RedisServer.start();
    const env = "held";
    await using pair = await purgerAndFollower(redis, env);
    const { admin, purger, follower, meta } = pair;
    const token = `roster:{${env}}:purge`;
    assert.ok(await admin.hget(meta, "pw"), "the purger is recorded");
    // Due again, and another process holds the token for 200 ms.
    await eventually(
      "the purger's token lapsed",
      async () => await admin.exists(token) === 0,
      2_000,
    );
    await admin.hset(meta, "d:api", "0");
    await admin.set(token, "an offer", "PX", 200);
    const purgerWait = await purger.purge(env);
    const followerWait = await follower.purge(env);
    assert.ok(
      purgerWait <= 200 && followerWait >= 250,
      `the purger waits the token out (${purgerWait} ms), a follower 250 ms more (${followerWait} ms)`,
    );
  },
));

/** A process that watches `env`'s api service (ttl 600 ms). */
function watchingProcess(redis: RedisServer, env: string) {
  return startWatcher(redis.url, { env, ttl: 600, heartbeatInterval: 100 });
}

Deno.test(redisTest(
  "followers learn each purge from its announcement: while one process purges on time, only it reads the log at due times",
  async () => {
    await using redis = await RedisServer.start();
    const admin = await redis.admin();
    const env = "announced";
    const beating = await RedisDriver.connect({ url: redis.url });
    const member = new Registry({
      driver: beating,
      env,
      service: "api",
      id: "a",
      ttl: 600,
      heartbeatInterval: 100,
    });
    const watchers = await Promise.all(
      [1, 2, 3].map(() => watchingProcess(redis, env)),
    );
    const events = watchers.map((watcher) => watcher.seen);
    let monitor: Awaited<ReturnType<typeof monitorCommands>> | undefined;
    try {
      await member.start();
      await eventually(
        "every watcher sees a",
        () => events.every((e) => e.events.some((x) => x.type === "join")),
        5_000,
      );
      monitor = await monitorCommands(admin);
      const sent = (sha: string, readOnly: boolean) =>
        monitor!.seen.filter(({ args, fromLua }) =>
          !fromLua && args[1] === sha &&
          args[0]?.toUpperCase().endsWith("_RO") === readOnly
        ).map(({ at }) => at);
      // The service falls due every 500 ms (a ttl less an interval). The
      // first due time is raced (nobody purged yet), and followers may
      // check the second when they had planned to before the first
      // announcement; from then on only the purger's wait ends at a due
      // time.
      const from = await eventually(
        "two purges",
        () => sent(SCRIPTS.purge.sha, false)[1],
      );
      const after = (at: number[]) => at.filter((t) => t > from + 100);
      await eventually(
        "six purges more",
        () => after(sent(SCRIPTS.purge.sha, false)).length >= 6,
        20_000,
      );
      const purges = after(sent(SCRIPTS.purge.sha, false)).length;
      const reads = after(sent(SCRIPTS.readChanges.sha, true)).length;
      // Each due time the purger's wait ends and it reads once; three
      // followers that read to check (as before announcements) would make
      // it four. A purger late by more than the followers' 250 ms (a busy
      // machine: the parallel suite) lets a follower check once or twice.
      assert.ok(
        reads <= purges + 2,
        `${reads} change reads for ${purges} purges`,
      );
      assert.equal(
        events.flatMap((e) => e.events).filter((x) => x.type === "leave")
          .length,
        0,
        "nobody left",
      );
    } finally {
      await monitor?.stop();
      await Promise.all(
        watchers.map((watcher) => watcher[Symbol.asyncDispose]()),
      );
      await member.stop();
      await beating.close();
    }
  },
));

Deno.test(redisTest(
  "a wait that ends at a purge announcement reads nothing when the announcement is at the reader's position, and reads when it is not",
  async () => {
    await using redis = await RedisServer.start();
    const admin = await redis.admin();
    const env = "position";
    const driver = await RedisDriver.connect({ url: redis.url });
    try {
      await driver.register(registration({ env, id: "x", ttl: 60_000 }));
      const { cursor } = await driver.snapshot(env);
      const [epoch, n] = [
        cursor.slice(0, cursor.lastIndexOf(":")),
        Number(cursor.slice(cursor.lastIndexOf(":") + 1)),
      ];
      const reads = async () =>
        Number(
          /cmdstat_evalsha_ro:calls=(\d+)/.exec(
            await admin.info("commandstats"),
          )?.[1] ?? 0,
        );
      const channel = `roster:{${env}}:changed`;
      let started = 0;
      /**
       * Starts a wait, and returns once its call has read (it subscribes
       * first); the purge message sent then comes in its wait.
       */
      const startWait = async (waitMs: number) => {
        // A read that found nothing is reused for 100 ms; this call reads.
        await sleep(150);
        const before = await reads();
        started = performance.now();
        const waiting = driver.changes(env, cursor, { waitMs });
        await eventually(
          "the call read",
          async () => await reads() > before,
          2_000,
        );
        assert.ok(Number((await admin.pubsub("NUMSUB", channel))[1]) > 0);
        // Wrapped: an async function's result would wait for the promise.
        return { waiting };
      };
      const redisNow = async () => {
        const [seconds, micros] = await admin.time();
        return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
      };
      /** A wait, with a purge message at `position` sent while it waits. */
      const waitThroughAnnouncement = async (position: number) => {
        const { waiting } = await startWait(5_000);
        const now = await redisNow();
        const readsBefore = await reads();
        await admin.publish(
          channel,
          ["p", now, now + 60_000, epoch, position, ""].join("\t"),
        );
        const batch = await waiting;
        return { batch, read: await reads() > readsBefore };
      };
      let result = await waitThroughAnnouncement(n);
      assert.deepEqual(result.batch.changes, []);
      assert.equal(result.batch.cursor, cursor);
      assert.equal(result.read, false, "an announcement at the position");
      const sent = await reads();
      const wait = await driver.purge(env);
      assert.equal(await reads(), sent, "the purge sent nothing");
      assert.ok(wait >= 4_000, `the next purge is far: ${wait} ms`);

      // Ahead of the cursor: the log lost what the cursor waits for, which
      // only a read finds out.
      result = await waitThroughAnnouncement(n + 1);
      assert.equal(result.read, true, "an announcement elsewhere");

      // Made before the last read (one in flight while it was sent): it
      // says less than that read did, so the wait goes on to its end.
      const { waiting } = await startWait(400);
      await admin.publish(
        channel,
        ["p", await redisNow() - 10_000, 0, epoch, n, ""].join("\t"),
      );
      assert.deepEqual((await waiting).changes, []);
      assert.ok(
        performance.now() - started >= 390,
        "an announcement older than a read did not end the wait",
      );
    } finally {
      await driver.close();
    }
  },
));

Deno.test(redisTest(
  "when the env's purger stops watching, a follower takes over: the others still see a crash within a ttl and a second",
  async () => {
    await using redis = await RedisServer.start();
    const admin = await redis.admin();
    const env = "handover";
    const meta = `roster:{${env}}:meta`;
    const beating = await RedisDriver.connect({ url: redis.url });
    const crashing = registration({ env, id: "x", ttl: 600 });
    let beat = true;
    const watchers: Awaited<ReturnType<typeof watchingProcess>>[] = [];
    const listener = admin.duplicate();
    await beating.register(crashing);
    const beats = (async () => {
      while (beat) {
        await beating.heartbeat(crashing);
        await sleep(100);
      }
    })();
    try {
      // The first watcher alone purges, and is recorded.
      watchers.push(await watchingProcess(redis, env));
      const purger = await eventually(
        "the first watcher purged",
        async () => await admin.hget(meta, "pw") ?? undefined,
      );
      watchers.push(
        await watchingProcess(redis, env),
        await watchingProcess(redis, env),
      );
      // Two purges announced after the followers came: they follow.
      let announced = 0;
      listener.on("message", (_channel: string, payload: string) => {
        if (payload.startsWith("p\t")) announced++;
      });
      await listener.subscribe(`roster:{${env}}:changed`);
      await eventually("two more purges", () => announced >= 2);
      assert.equal(await admin.hget(meta, "pw"), purger, "still the purger");

      await watchers.shift()![Symbol.asyncDispose]();
      beat = false;
      await beats;
      // x crashed: its last beat is in, its lease ends 600 ms on.
      await eventually(
        "every follower sees x leave",
        () =>
          watchers.every((watcher) =>
            watcher.seen.events.some((e) =>
              e.type === "leave" && e.instance.id === "x"
            )
          ),
        600 + 1_000,
      );
      const next = await admin.hget(meta, "pw");
      assert.ok(next && next !== purger, "a follower took over");
    } finally {
      beat = false;
      await beats;
      await Promise.all(
        watchers.map((watcher) => watcher[Symbol.asyncDispose]()),
      );
      await beating.close();
      listener.disconnect();
    }
  },
));

Deno.test(redisTest(
  "on a Redis that refuses MEMORY (as some managed ones do) a pass still ends, and purges, leaving the slots as they are",
  async () => {
    await using redis = await RedisServer.start([], {
      config: 'rename-command MEMORY ""\n',
    });
    const admin = await redis.admin();
    const driver = await RedisDriver.connect({ url: redis.url });
    try {
      const env = "nomemory";
      const meta = `roster:{${env}}:meta`;
      await assert.rejects(admin.call("MEMORY", "USAGE", meta));
      const live = registration({ env, id: "live", ttl: 60_000 });
      await driver.register(live);
      await driver.register(registration({ env, id: "gone", ttl: TTL }));
      await sleep(TTL + 50);
      await admin.hset(meta, "d:api", "0");
      await purgeUntil(
        driver,
        env,
        [live],
        async () => (await leaves(admin, env)).get("gone") === 1,
        "the lapsed entry leaves",
      );
      assert.deepEqual(
        (await driver.list({ env })).map((i) => i.id),
        ["live"],
      );
    } finally {
      await driver.close();
    }
  },
));

Deno.test(redisTest(
  "a pass that ends writes a service's slots again at their size when growth doubled them, and leaves them once they fit",
  async () => {
    await using redis = await RedisServer.start();
    const admin = await redis.admin();
    const driver = await RedisDriver.connect({ url: redis.url });
    try {
      const env = "fit";
      const meta = `roster:{${env}}:meta`;
      const slots = `roster:{${env}}:b:api`;
      // 1,100 slots of 60 bytes: SETRANGE's growth last doubled the string
      // at 61,380 bytes, to 122,760.
      const regs = Array.from(
        { length: 1_100 },
        (_, i) => registration({ env, id: `i${i}`, ttl: 60_000 }),
      );
      await registerAll(driver, regs);
      const usage = async () => ({
        bytes: Number(
          await admin.call("MEMORY", "USAGE", slots, "SAMPLES", "0"),
        ),
        length: await admin.strlen(slots),
        ttl: await admin.pttl(slots),
      });
      const grown = await usage();
      assert.ok(grown.bytes > grown.length * 1.5, JSON.stringify(grown));
      const pass = async () => {
        await admin.hset(meta, "d:api", "0");
        await purgeUntil(
          driver,
          env,
          [],
          async () => Number(await admin.hget(meta, "d:api")) > Date.now(),
          "a pass",
        );
      };
      await pass();
      const fitted = await usage();
      // Within the allocator's size class (a quarter apart at this size).
      assert.ok(
        fitted.bytes <= fitted.length * 1.25 + 256 &&
          fitted.length === grown.length && fitted.ttl > 0,
        `fitted: ${JSON.stringify(fitted)}`,
      );
      assert.equal(
        (await driver.list({ env, services: ["api"] })).length,
        1_100,
      );
      // It fits now: the next pass copies nothing.
      const sets = await monitorCommands(admin);
      try {
        await pass();
      } finally {
        await sets.stop();
      }
      assert.equal(
        sets.seen.filter(({ args, fromLua }) =>
          fromLua && args[0]?.toUpperCase() === "SET" && args[1] === slots
        ).length,
        0,
      );
    } finally {
      await driver.close();
    }
  },
));
