/**
 * Subscriptions share one connection: a channel is subscribed once however
 * many handlers it has, and unsubscribed when its last handler goes.
 */

import assert from "node:assert/strict";
import { Subscriptions } from "../../../drivers/redis/_subscriptions.ts";
import { connectSide, createClient } from "../../../drivers/redis/connect.ts";
import { eventually } from "../../discovery/_discovery_suite.ts";
import { RedisServer, redisTest } from "../../_redis_server.ts";
import { CHANNELLESS_USER, channellessUser } from "./_channelless_user.ts";

Deno.test(redisTest(
  "redis subscriptions: one connection, one SUBSCRIBE per channel, UNSUBSCRIBE after the last handler; none without a way to connect",
  async () => {
    await using server = await RedisServer.start();
    const admin = await server.admin();
    let opened = 0;
    const subscriptions = new Subscriptions(() => () => {
      opened++;
      return connectSide(createClient({ url: server.url }), 5_000);
    });
    try {
      const a: string[] = [];
      const b: string[] = [];
      const offA = await subscriptions.subscribe("c1", (m) => a.push(m));
      const offB = await subscriptions.subscribe("c1", (m) => b.push(m));
      const offC = await subscriptions.subscribe("c2", () => {});
      assert.equal(opened, 1);
      const channels = async () =>
        (await admin.call("PUBSUB", "CHANNELS") as string[]).sort();
      assert.deepEqual(await channels(), ["c1", "c2"]);
      await admin.call("PUBLISH", "c1", "hello");
      await eventually("both handlers", () => a.length === 1 && b.length === 1);
      await offA();
      await admin.call("PUBLISH", "c1", "again");
      await eventually("the one left", () => b.length === 2);
      assert.deepEqual(a, ["hello"]);
      await offB();
      assert.deepEqual(await channels(), ["c2"]);
      await offC();
    } finally {
      await subscriptions.close();
    }
    await assert.rejects(
      subscriptions.subscribe("c1", () => {}),
      /the driver is closed/,
    );
    await assert.rejects(
      new Subscriptions(() => undefined).subscribe("c1", () => {}),
      /has no duplicate\(\); pass an ioredis client/,
    );
  },
));

Deno.test(redisTest(
  "redis subscriptions: a closed connection is a loss, and so is its return once subscribed again; messages flow after it",
  async () => {
    await using server = await RedisServer.start();
    const admin = await server.admin();
    const subscriptions = new Subscriptions(() => () =>
      connectSide(createClient({ url: server.url }), 5_000)
    );
    let losses = 0;
    const stop = subscriptions.onLoss(() => losses++);
    try {
      const got: string[] = [];
      await subscriptions.subscribe("c1", (m) => got.push(m));
      assert.equal(subscriptions.live, true);
      assert.equal(losses, 0, "subscribing is no loss");
      await admin.call("CLIENT", "KILL", "TYPE", "pubsub");
      await eventually("the close and the return", () => losses >= 2);
      assert.equal(subscriptions.live, true);
      // Subscribed again before the loss was told: this one arrives.
      await admin.call("PUBLISH", "c1", "after");
      await eventually("the message after", () => got.includes("after"));
      stop();
      await admin.call("CLIENT", "KILL", "TYPE", "pubsub");
      await eventually("a message after the second return", async () => {
        await admin.call("PUBLISH", "c1", "again");
        return got.includes("again") && subscriptions.live;
      });
      assert.equal(losses, 2, "no calls once stopped");
    } finally {
      await subscriptions.close();
    }
    assert.equal(subscriptions.live, false);
  },
));

Deno.test(redisTest(
  "redis subscriptions: a refused SUBSCRIBE is asked again by the next subscribe, which works once granted",
  async () => {
    await using server = await RedisServer.start();
    const admin = await server.admin();
    const url = await channellessUser(server);
    const subscriptions = new Subscriptions(() => () =>
      connectSide(createClient({ url }), 5_000)
    );
    try {
      await assert.rejects(subscriptions.subscribe("c1", () => {}), /NOPERM/);
      await assert.rejects(subscriptions.subscribe("c1", () => {}), /NOPERM/);
      await admin.call("ACL", "SETUSER", CHANNELLESS_USER, "&c1");
      const got: string[] = [];
      const off = await subscriptions.subscribe("c1", (m) => got.push(m));
      await admin.call("PUBLISH", "c1", "granted");
      await eventually("the message", () => got.includes("granted"));
      await off();
    } finally {
      await subscriptions.close();
    }
  },
));

Deno.test(redisTest(
  "redis subscriptions: one handler's unsubscribe while another's SUBSCRIBE is in flight leaves the other subscribed",
  async () => {
    await using server = await RedisServer.start();
    const admin = await server.admin();
    const subscriptions = new Subscriptions(() => () =>
      connectSide(createClient({ url: server.url }), 5_000)
    );
    try {
      // The connection is open: the next SUBSCRIBE is only in flight.
      await (await subscriptions.subscribe("warm", () => {}))();
      const got: string[] = [];
      const first = subscriptions.subscribe("c1", (m) => got.push(m));
      const offSecond = await subscriptions.subscribe("c1", () => {});
      await offSecond();
      const offFirst = await first;
      await admin.call("PUBLISH", "c1", "hello");
      await eventually("the first handler's message", () => got.length === 1);
      assert.deepEqual(got, ["hello"]);
      await offFirst();
    } finally {
      await subscriptions.close();
    }
  },
));
