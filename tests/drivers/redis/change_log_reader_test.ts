/**
 * The Redis driver's change-log reads. A follower that asks again right
 * after a read that found nothing waits at once, without reading again:
 * these tests check that nothing is missed or read late for it.
 */

import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { RedisDriver } from "../../../drivers/redis/mod.ts";
import {
  ChangeLogReader,
  type ChangeLogReaderOptions,
  MAX_WAIT_MS,
} from "../../../drivers/redis/_change_log_reader.ts";
import { RedisCalls } from "../../../drivers/redis/_calls.ts";
import { Subscriptions } from "../../../drivers/redis/_subscriptions.ts";
import {
  closeClient,
  connectClient,
  connectSide,
} from "../../../drivers/redis/connect.ts";
import { eventually } from "../../discovery/_discovery_suite.ts";
import { type ChangeBatch, ChangeLogGapError } from "../../../mod.ts";
import { registration } from "../../_registration.ts";
import { RedisServer, redisTest, sleep } from "../../_redis_server.ts";
import { CHANNELLESS_USER, channellessUser } from "./_channelless_user.ts";

Deno.test(redisTest(
  "a change made right after a read that found nothing is returned by the next wait at once",
  async () => {
    await using redis = await RedisServer.start();
    const reader = await RedisDriver.connect({ url: redis.url });
    const writer = await RedisDriver.connect({ url: redis.url });
    try {
      const env = "quiet";
      const { cursor } = await reader.snapshot(env);
      const quiet = await reader.changes(env, cursor, { waitMs: 0 });
      assert.deepEqual(quiet.changes, []);
      await writer.register(registration({ env, id: "a" }));
      const started = performance.now();
      const batch = await reader.changes(env, quiet.cursor, {
        waitMs: MAX_WAIT_MS,
      });
      assert.deepEqual(
        batch.changes.map((c) => [c.type, c.instance.id]),
        [["join", "a"]],
      );
      // Not a speed figure: a wait that missed the change would only end
      // with its full length.
      assert.ok(
        performance.now() - started < MAX_WAIT_MS - 1_000,
        "the join was returned by the wait, not after it",
      );
    } finally {
      await reader.close();
      await writer.close();
    }
  },
));

Deno.test(redisTest(
  "a log lost right after a read that found nothing is reported as a gap by the next call",
  async () => {
    await using redis = await RedisServer.start();
    const admin = await redis.admin();
    const reader = await RedisDriver.connect({ url: redis.url });
    const writer = await RedisDriver.connect({ url: redis.url });
    try {
      const env = "lost";
      await writer.register(registration({ env, id: "a" }));
      const { cursor } = await reader.snapshot(env);
      const quiet = await reader.changes(env, cursor, { waitMs: 0 });
      assert.deepEqual(quiet.changes, []);
      await admin.flushall();
      await writer.register(registration({ env, id: "b" }));
      await assert.rejects(
        reader.changes(env, quiet.cursor, { waitMs: 300 }),
        (error) => error instanceof ChangeLogGapError && error.dataLost,
      );
    } finally {
      await reader.close();
      await writer.close();
    }
  },
));

Deno.test(redisTest(
  "waits in two envs on one driver do not queue: a change in one is returned while the other still blocks",
  async () => {
    await using redis = await RedisServer.start();
    const reader = await RedisDriver.connect({ url: redis.url });
    const writer = await RedisDriver.connect({ url: redis.url });
    const controller = new AbortController();
    try {
      const quietAt = (await reader.snapshot("quiet")).cursor;
      const busyAt = (await reader.snapshot("busy")).cursor;
      let quietEnded = false;
      const quiet = reader.changes("quiet", quietAt, {
        waitMs: MAX_WAIT_MS,
        signal: controller.signal,
      }).finally(() => quietEnded = true);
      const busy = reader.changes("busy", busyAt, { waitMs: MAX_WAIT_MS });
      await writer.register(registration({ env: "busy", id: "a" }));
      const batch = await busy;
      assert.deepEqual(
        batch.changes.map((c) => [c.type, c.instance.id]),
        [["join", "a"]],
      );
      assert.equal(
        quietEnded,
        false,
        "the other env's wait still blocks: the join did not wait for it",
      );
      controller.abort();
      await quiet.catch(() => {});
    } finally {
      controller.abort();
      await reader.close();
      await writer.close();
    }
  },
));

Deno.test(redisTest(
  "waits one after another use the driver's one subscriber connection: its connections do not grow",
  async () => {
    await using redis = await RedisServer.start();
    const admin = await redis.admin();
    const reader = await RedisDriver.connect({ url: redis.url });
    try {
      const clients = async () =>
        Number(
          /connected_clients:(\d+)/.exec(await admin.info("clients"))?.[1],
        );
      let { cursor } = await reader.snapshot("quiet");
      ({ cursor } = await reader.changes("quiet", cursor, { waitMs: 20 }));
      const after = await clients();
      for (let i = 0; i < 6; i++) {
        ({ cursor } = await reader.changes("quiet", cursor, { waitMs: 20 }));
      }
      assert.equal(await clients(), after, "no connection was opened");
    } finally {
      await reader.close();
    }
  },
));

Deno.test(redisTest(
  "a change made while the subscriber connection is away is read once it is back, not at the wait's end",
  async () => {
    await using redis = await RedisServer.start();
    const admin = await redis.admin();
    const reader = await RedisDriver.connect({ url: redis.url });
    const writer = await RedisDriver.connect({ url: redis.url });
    try {
      const env = "away";
      let { cursor } = await reader.snapshot(env);
      ({ cursor } = await reader.changes(env, cursor, { waitMs: 20 }));
      const started = performance.now();
      const seen: string[] = [];
      const watching = (async () => {
        while (seen.length === 0 && performance.now() - started < 10_000) {
          const batch = await reader.changes(env, cursor, {
            waitMs: MAX_WAIT_MS,
          });
          seen.push(...batch.changes.map((c) => `${c.type} ${c.instance.id}`));
          cursor = batch.cursor;
        }
      })();
      // The join is published while nobody of the reader's listens.
      await admin.call("CLIENT", "KILL", "TYPE", "pubsub");
      await writer.register(registration({ env, id: "a" }));
      await watching;
      assert.deepEqual(seen, ["join a"]);
      // Not a speed figure: a wait that did not hear of the lost message
      // would only end with its full length.
      assert.ok(
        performance.now() - started < MAX_WAIT_MS - 1_000,
        "the join was read once the connection was back",
      );
    } finally {
      await reader.close();
      await writer.close();
    }
  },
));

/**
 * A reader on a client of its own, as the driver makes one, counting its
 * change reads; `beforeRead` runs before the next one is sent.
 */
async function directReader(
  url: string,
  options: Partial<ChangeLogReaderOptions> = {},
) {
  const client = await connectClient({ url });
  const subscriptions = new Subscriptions(() => () =>
    connectSide((client as Redis).duplicate(), 5_000)
  );
  const counted = {
    reads: 0,
    answered: 0,
    beforeRead: undefined as (() => Promise<void>) | undefined,
  };
  class CountedCalls extends RedisCalls {
    override async call(
      ...args: Parameters<RedisCalls["call"]>
    ): Promise<unknown> {
      counted.reads++;
      const hook = counted.beforeRead;
      counted.beforeRead = undefined;
      await hook?.();
      try {
        return await super.call(...args);
      } finally {
        counted.answered++;
      }
    }
  }
  const reader = new ChangeLogReader({
    calls: new CountedCalls(client, client),
    base: (env) => `roster:{${env}}:`,
    subscriptions: () => subscriptions,
    purgeHolder: "reader",
    ...options,
  });
  return {
    reader,
    counted,
    async [Symbol.asyncDispose]() {
      reader.close();
      await subscriptions.close();
      await closeClient(client);
    },
  };
}

/**
 * Registers `id` in `env` while `waiting` (a wait of the longest length)
 * runs, and checks that the join ended it. Not a speed figure: a wait that
 * missed the join would only end with its full length.
 */
async function assertJoinEndsWait(
  writer: RedisDriver,
  env: string,
  id: string,
  waiting: Promise<ChangeBatch>,
): Promise<void> {
  const started = performance.now();
  await writer.register(registration({ env, id }));
  const batch = await waiting;
  assert.deepEqual(
    batch.changes.map((c) => [c.type, c.instance.id]),
    [["join", id]],
  );
  assert.ok(
    performance.now() - started < MAX_WAIT_MS - 1_000,
    "the join ended the wait",
  );
}

Deno.test(redisTest(
  "an env nobody waits on is unsubscribed after a while; a later wait subscribes again and hears the next change",
  async () => {
    await using redis = await RedisServer.start();
    const admin = await redis.admin();
    await using direct = await directReader(redis.url, {
      idleSubscriptionMs: 200,
    });
    const { reader } = direct;
    const writer = await RedisDriver.connect({ url: redis.url });
    const channel = "roster:{idle}:changed";
    const subscribers = async () =>
      Number((await admin.pubsub("NUMSUB", channel))[1]);
    try {
      let { cursor } = await writer.snapshot("idle");
      ({ cursor } = await reader.changes("idle", cursor, { waitMs: 20 }));
      assert.equal(await subscribers(), 1);
      // A message after the idle time ends the subscription.
      await sleep(250);
      await writer.register(registration({ env: "idle", id: "a" }));
      await eventually("unsubscribed", async () => await subscribers() === 0);
      ({ cursor } = await reader.changes("idle", cursor, { waitMs: 0 }));
      const next = reader.changes("idle", cursor, { waitMs: MAX_WAIT_MS });
      await eventually(
        "subscribed again",
        async () => await subscribers() === 1,
      );
      await assertJoinEndsWait(writer, "idle", "b", next);
    } finally {
      await writer.close();
    }
  },
));

Deno.test(redisTest(
  "a message that comes during the first read after an idle spell does not unsubscribe the wait that follows",
  async () => {
    await using redis = await RedisServer.start();
    const admin = await redis.admin();
    await using direct = await directReader(redis.url, {
      idleSubscriptionMs: 200,
    });
    const { reader, counted } = direct;
    const writer = await RedisDriver.connect({ url: redis.url });
    const channel = "roster:{idle}:changed";
    try {
      await writer.register(registration({ env: "idle", id: "z" }));
      let { cursor } = await writer.snapshot("idle");
      ({ cursor } = await reader.changes("idle", cursor, { waitMs: 20 }));
      await sleep(250); // longer than the idle time, with no message
      // Another process's purge, a moment before the read.
      const [epoch, n] = cursor.split(":");
      counted.beforeRead = async () => {
        await admin.publish(
          channel,
          ["p", 0, -1, epoch, n, "other"].join("\t"),
        );
        await sleep(50);
      };
      const answered = counted.answered;
      const next = reader.changes("idle", cursor, { waitMs: MAX_WAIT_MS });
      // The join comes in the wait, after the read.
      await eventually("the read", () => counted.answered > answered);
      await assertJoinEndsWait(writer, "idle", "a", next);
    } finally {
      await writer.close();
    }
  },
));

Deno.test(redisTest(
  "a follower reads once per change: the read that found one is not made again before the next wait",
  async () => {
    await using redis = await RedisServer.start();
    await using direct = await directReader(redis.url);
    const { reader, counted } = direct;
    const writer = await RedisDriver.connect({ url: redis.url });
    const stop = new AbortController();
    try {
      let { cursor } = await writer.snapshot("hot");
      let seen = 0;
      const following = (async () => {
        while (!stop.signal.aborted) {
          const batch = await reader.changes("hot", cursor, {
            waitMs: MAX_WAIT_MS,
            signal: stop.signal,
          });
          seen += batch.changes.length;
          cursor = batch.cursor;
        }
      })();
      await eventually("waiting", () => counted.reads > 0);
      const reads = counted.reads;
      for (let i = 1; i <= 10; i++) {
        await writer.register(registration({ env: "hot", id: `i${i}` }));
        await eventually(`change ${i} seen`, () => seen === i);
      }
      stop.abort();
      await following;
      assert.ok(
        counted.reads - reads <= 10,
        `${counted.reads - reads} reads for 10 changes`,
      );
    } finally {
      stop.abort();
      await writer.close();
    }
  },
));

Deno.test(redisTest(
  "without channel rights waits poll once per 100 ms; close() ends a poll at once, with nothing sent after it",
  async () => {
    await using redis = await RedisServer.start();
    const url = await channellessUser(redis);
    await using direct = await directReader(url);
    const { reader, counted } = direct;
    let { cursor } = await reader.changes("polled", ":0", { waitMs: 0 });
    const stop = new AbortController();
    const polling = (async () => {
      while (!stop.signal.aborted) {
        ({ cursor } = await reader.changes("polled", cursor, {
          waitMs: MAX_WAIT_MS,
          signal: stop.signal,
        }));
      }
    })();
    await eventually("polling", () => counted.reads > 2);
    const [reads, started] = [counted.reads, performance.now()];
    await sleep(1_000);
    const [polled, took] = [counted.reads - reads, performance.now() - started];
    stop.abort();
    await polling;
    // An upper bound only: a busy machine polls less often, never more.
    assert.ok(
      polled <= Math.ceil(took / 100) + 1,
      `${polled} reads in ${Math.round(took)} ms`,
    );

    const waiting = reader.changes("polled", cursor, { waitMs: MAX_WAIT_MS });
    await sleep(30);
    const before = counted.reads;
    const closedAt = performance.now();
    reader.close();
    assert.deepEqual((await waiting).changes, []);
    assert.equal(counted.reads, before, "nothing read after close()");
    assert.ok(performance.now() - closedAt < 1_000, "the poll ended at once");
  },
));

Deno.test(redisTest(
  "after Redis refused a subscription, waits poll; once granted, a later wait subscribes and a change ends it",
  async () => {
    await using redis = await RedisServer.start();
    const admin = await redis.admin();
    const url = await channellessUser(redis);
    await using direct = await directReader(url, { refusedRetryMs: 200 });
    const { reader } = direct;
    const writer = await RedisDriver.connect({ url: redis.url });
    const channel = "roster:{granted}:changed";
    try {
      let { cursor } = await writer.snapshot("granted");
      ({ cursor } = await reader.changes("granted", cursor, { waitMs: 20 }));
      await admin.call("ACL", "SETUSER", CHANNELLESS_USER, "&roster:*");
      await sleep(250); // past the time refused waits poll
      const next = reader.changes("granted", cursor, { waitMs: MAX_WAIT_MS });
      await eventually(
        "subscribed",
        async () => Number((await admin.pubsub("NUMSUB", channel))[1]) === 1,
      );
      await assertJoinEndsWait(writer, "granted", "a", next);
    } finally {
      await writer.close();
    }
  },
));

Deno.test(redisTest(
  "a wait asked for longer than the longest ends at it with a read: a message missed without a word (a Cluster subscriber moved) is read then",
  async () => {
    await using redis = await RedisServer.start();
    await using direct = await directReader(redis.url);
    const { reader, counted } = direct;
    let { cursor } = await reader.changes("long", ":0", { waitMs: 0 });
    ({ cursor } = await reader.changes("long", cursor, { waitMs: 20 }));
    const reads = counted.reads;
    const started = performance.now();
    const batch = await reader.changes("long", cursor, { waitMs: 60_000 });
    assert.deepEqual(batch.changes, []);
    assert.ok(counted.reads > reads, "a read at the wait's end");
    assert.ok(
      performance.now() - started < MAX_WAIT_MS + 3_000,
      "the wait ended at the longest",
    );
  },
));

Deno.test(redisTest(
  "a message the reader cannot make out ends the wait with a read, as a lost one does",
  async () => {
    await using redis = await RedisServer.start();
    const admin = await redis.admin();
    await using direct = await directReader(redis.url);
    const { reader, counted } = direct;
    let { cursor } = await reader.changes("odd", ":0", { waitMs: 0 });
    ({ cursor } = await reader.changes("odd", cursor, { waitMs: 20 }));
    const epoch = cursor.slice(0, cursor.lastIndexOf(":"));
    const started = performance.now();
    const waiting = reader.changes("odd", cursor, { waitMs: MAX_WAIT_MS });
    const reads = counted.reads;
    await admin.publish("roster:{odd}:changed", `c\t${epoch}\tx`);
    assert.deepEqual((await waiting).changes, []);
    assert.ok(counted.reads > reads, "it read");
    assert.ok(
      performance.now() - started < MAX_WAIT_MS - 1_000,
      "the message ended the wait",
    );
  },
));
