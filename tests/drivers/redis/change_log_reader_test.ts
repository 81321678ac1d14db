/**
 * The Redis driver's change-log reads. A follower that asks again right
 * after a read that found nothing waits at once, without reading again:
 * these tests check that nothing is missed or read late for it.
 */

import assert from "node:assert/strict";
import { RedisDriver } from "../../../drivers/redis/mod.ts";
import { MAX_BLOCK_MS } from "../../../drivers/redis/_change_log_reader.ts";
import { ChangeLogGapError } from "../../../mod.ts";
import { registration } from "../../_registration.ts";
import { RedisServer, redisTest } from "../../_redis_server.ts";

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
        waitMs: MAX_BLOCK_MS,
      });
      assert.deepEqual(
        batch.changes.map((c) => [c.type, c.instance.id]),
        [["join", "a"]],
      );
      // Not a speed figure: a wait that missed the change would only end
      // with its full length.
      assert.ok(
        performance.now() - started < MAX_BLOCK_MS - 1_000,
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
        waitMs: MAX_BLOCK_MS,
        signal: controller.signal,
      }).finally(() => quietEnded = true);
      const busy = reader.changes("busy", busyAt, { waitMs: MAX_BLOCK_MS });
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
  "waits one after another use one blocking connection: the driver's connections do not grow",
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
