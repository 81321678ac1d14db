/**
 * The Redis scripts that read a whole service work a bounded piece per
 * call, as the purge does (tests/drivers/redis/purge_test.ts): a campaign reads the
 * beat slots a piece at a time, flagging the slots after lost records goes
 * on over the purge's calls, and a repair of the id index or the services
 * list goes on over calls of its own. bench/purge_bench.ts measures how
 * long each call blocks Redis; these tests check that the pieces add up to
 * the whole, on services several pieces long.
 */

import assert from "node:assert/strict";
import { RedisDriver } from "../../../drivers/redis/mod.ts";
import {
  CAMPAIGN_SLOTS,
  MARK_SLOTS,
  REPAIR_LINES,
} from "../../../drivers/redis/_scripts.ts";
import { registerAll, registration } from "../../_registration.ts";
import { RedisServer, redisTest } from "../../_redis_server.ts";
import { eventually } from "../../discovery/_discovery_suite.ts";

// Long enough that nothing lapses while a test runs.
const TTL = 120_000;

Deno.test(redisTest(
  "a campaign reads a big service's slots a piece per call: an older healthy instance in a later piece refuses it, and once that one leaves, the youngest is granted",
  async () => {
    await using redis = await RedisServer.start();
    const admin = await redis.admin();
    const driver = await RedisDriver.connect({ url: redis.url });
    try {
      const env = "big";
      const all = Array.from(
        { length: 2 * CAMPAIGN_SLOTS + 500 },
        (_, i) =>
          registration({ env, id: `i-${i}`, ttl: TTL, status: "draining" }),
      );
      const seqs = await registerAll(driver, all);
      // Slots are taken in seq order: the older healthy one sits in the
      // second piece, the candidate in the last.
      const bySeq = [...all].sort((a, b) => seqs.get(a.id)! - seqs.get(b.id)!);
      const older = bySeq[CAMPAIGN_SLOTS + 700]!;
      const youngest = bySeq[bySeq.length - 1]!;
      for (const r of [older, youngest]) r.status = "healthy";
      await driver.heartbeat(older);
      await driver.heartbeat(youngest);

      assert.equal(await driver.campaign(youngest), undefined);
      assert.equal(await admin.hget(`roster:{${env}}:meta`, "L:api"), null);

      await driver.deregister(older);
      const term = await driver.campaign(youngest);
      assert.ok(term !== undefined, "the youngest is the eldest that works");
      assert.match(
        await admin.hget(`roster:{${env}}:meta`, "L:api") ?? "",
        new RegExp(`^${youngest.id}\\t`),
      );
    } finally {
      await driver.close();
    }
  },
));

Deno.test(redisTest(
  "records lost in a big service: the slots are flagged a piece per purge call, and after one beat each, every instance is listed again with its seq",
  async () => {
    await using redis = await RedisServer.start();
    const admin = await redis.admin();
    const driver = await RedisDriver.connect({ url: redis.url });
    try {
      const env = "big";
      const meta = `roster:{${env}}:meta`;
      const all = Array.from(
        { length: 2 * MARK_SLOTS + 300 },
        (_, i) => registration({ env, id: `i-${i}`, ttl: TTL }),
      );
      const seqs = await registerAll(driver, all);
      await admin.del(`roster:{${env}}:p:api`);
      await admin.hset(meta, "d:api", "0");

      // The purge finds them lost, and flags the slots over several calls.
      await driver.purge(env);
      assert.match(await admin.hget(meta, "m:api") ?? "", /^2000:\d+$/);
      let calls = 1;
      while (await admin.hexists(meta, "m:api") === 1) {
        assert.ok(++calls < 100, "the flagging ends");
        await driver.purge(env);
      }
      assert.equal(calls, Math.ceil(all.length / MARK_SLOTS));
      // Nothing lists them until they beat: every slot asks for its record.
      const beats = await admin.get(`roster:{${env}}:b:api`) ?? "";
      for (let off = 0; off < beats.length; off += 60) {
        assert.equal(beats[off + 46], "r", `slot ${off / 60}`);
      }

      for (let i = 0; i < all.length; i += 200) {
        await Promise.all(
          all.slice(i, i + 200).map((r) => driver.heartbeat(r)),
        );
      }
      const listed = await driver.list({ env });
      assert.equal(listed.length, all.length);
      for (const instance of listed) {
        assert.equal(instance.seq, seqs.get(instance.id), instance.id);
      }
    } finally {
      await driver.close();
    }
  },
));

Deno.test(redisTest(
  "an id index and a services list lost in a big env are put back a piece per call, and a listing finds everyone",
  async () => {
    await using redis = await RedisServer.start();
    const admin = await redis.admin();
    const driver = await RedisDriver.connect({ url: redis.url });
    try {
      const env = "big";
      const all = Array.from(
        { length: 3 * REPAIR_LINES + 100 },
        (_, i) =>
          registration({
            env,
            id: `i-${i}`,
            service: `svc-${i % 3}`,
            ttl: TTL,
          }),
      );
      const seqs = await registerAll(driver, all);
      const ids = `roster:{${env}}:ids`;

      // The id index: a listing finds fewer ids than instances, and the
      // repair it starts goes on until every id is back.
      await admin.del(ids);
      assert.equal(
        (await driver.list({ env, services: ["svc-0"] })).length,
        all.filter((r) => r.service === "svc-0").length,
      );
      await driver.list({ env, services: ["svc-0", "svc-1", "svc-2"] });
      await eventually(
        "every id back in the index",
        async () => await admin.hlen(ids) === all.length,
        20_000,
      );
      for (const r of all) {
        const held = await admin.hget(ids, r.id) ?? "";
        assert.equal(held.split("\t")[3], String(seqs.get(r.id)), r.id);
      }

      // The services list, from the id index, several HSCAN pieces long.
      await admin.hdel(`roster:{${env}}:meta`, "svcs");
      const listed = await driver.list({ env });
      assert.equal(listed.length, all.length);
      assert.equal(
        await admin.hget(`roster:{${env}}:meta`, "svcs"),
        "svc-0,svc-1,svc-2",
      );
    } finally {
      await driver.close();
    }
  },
));
