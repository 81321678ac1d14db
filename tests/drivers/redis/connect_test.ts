import assert from "node:assert/strict";
import { RedisDriver } from "../../../drivers/redis/mod.ts";
import { freePort, RedisServer, redisTest } from "../../_redis_server.ts";

Deno.test(redisTest(
  "connecting waits out a busy Redis within the connect timeout, not the heartbeat's command timeout",
  async () => {
    await using server = await RedisServer.start();
    const admin = await server.admin();
    // The ready check's INFO waits for the pause, longer than a command may.
    await admin.call("CLIENT", "PAUSE", 400, "ALL");
    const started = Date.now();
    const driver = await RedisDriver.connect({
      url: server.url,
      commandTimeout: 100,
    });
    try {
      assert.ok(Date.now() - started >= 300, "it waited for the pause");
      // Once connected, commands keep their own timeout.
      await admin.call("CLIENT", "PAUSE", 400, "ALL");
      await assert.rejects(
        driver.list({ env: "default" }),
        /timed out/i,
      );
    } finally {
      await driver.close();
    }
  },
));

Deno.test(redisTest(
  "a Redis that cannot be reached fails the connect in one line that never shows the password",
  async () => {
    const url = `redis://:s3cret-pw@127.0.0.1:${freePort()}`;
    await assert.rejects(
      RedisDriver.connect({ url, connectTimeout: 500 }),
      (error: Error) => {
        assert.match(error.message, /^Cannot connect to Redis at /);
        assert.doesNotMatch(error.message, /s3cret-pw/);
        assert.equal(error.message.split("\n").length, 1);
        return true;
      },
    );
  },
));
