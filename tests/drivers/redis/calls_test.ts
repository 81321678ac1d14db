/**
 * Every call of the Redis driver goes through one place, which learns
 * Redis's clock from replies and what this process saw of an outage, and
 * says so in the next write for each outage key.
 */

import assert from "node:assert/strict";
import {
  markOwned,
  RedisCalls,
  SCRIPTS,
} from "../../../drivers/redis/_calls.ts";
import { createClient } from "../../../drivers/redis/connect.ts";
import type { Cluster } from "ioredis";
import { RedisDriver } from "../../../drivers/redis/mod.ts";
import { eventually } from "../../discovery/_discovery_suite.ts";
import { startCluster } from "../../_redis_cluster.ts";
import { registration } from "../../_registration.ts";
import { RedisServer, redisTest } from "../../_redis_server.ts";

Deno.test(redisTest(
  "redis calls: no report before Redis's clock is known, 's<sent>' while calls succeed, 'f<from>:<to>:<sent>' once after calls failed",
  async () => {
    await using server = await RedisServer.start();
    const client = createClient({ url: server.url, commandTimeout: 500 });
    markOwned(client);
    await client.connect();
    const calls = new RedisCalls(client, client);
    try {
      assert.equal(calls.answeredSince("env"), "");
      const time = await calls.command(client, "TIME") as [string, string];
      const now = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
      calls.learnClock(now);
      const sent = calls.answeredSince("env");
      assert.match(sent, /^s\d+$/);
      assert.ok(Math.abs(Number(sent.slice(1)) - now) < 1_000, sent);
      // A write under the key registers it: failures are kept for it.
      await calls.write(SCRIPTS.probe, "env", ["{e}:probe"], []);

      await server.stop();
      await assert.rejects(
        calls.write(SCRIPTS.probe, "env", ["{e}:probe"], []),
      );
      const report = calls.answeredSince("env");
      const [from, to, at] = report.slice(1).split(":").map(Number);
      assert.ok(report.startsWith("f"), report);
      assert.ok(from! <= to! && to! <= at!, report);
      // Only keys written to before are reported for.
      assert.match(calls.answeredSince("other"), /^s\d+$/);

      await server.restart();
      await eventually(
        "a write after the restart",
        () =>
          calls.write(SCRIPTS.probe, "env", ["{e}:probe"], []).then(
            () => true,
            () => false,
          ),
      );
      // Reported once: the next write says only when it was sent.
      assert.match(calls.answeredSince("env"), /^s\d+$/);
    } finally {
      client.disconnect();
    }
  },
));

Deno.test(redisTest(
  "redis calls: a Cluster call that ioredis never settles (held in its queue through a failover) fails after twice the command timeout and a second",
  async () => {
    const nodes = await startCluster();
    try {
      const driver = await RedisDriver.connect({
        clusterNodes: nodes.map((node) => `127.0.0.1:${node.port}`),
        commandTimeout: 100,
      });
      try {
        await driver.register(registration({ id: "api-1" }));
        // As ioredis does with a command it queued and never sends.
        const client = driver.client as Cluster;
        const call = client.call.bind(client);
        client.call = (() => new Promise(() => {})) as typeof client.call;
        const started = Date.now();
        await assert.rejects(
          driver.list({ env: "default" }),
          /did not settle it within 1200ms/,
        );
        assert.ok(Date.now() - started < 5_000);
        client.call = call;
        assert.equal((await driver.list({ env: "default" })).length, 1);
      } finally {
        await driver.close();
      }
    } finally {
      for (const node of nodes) await node[Symbol.asyncDispose]();
    }
  },
));
