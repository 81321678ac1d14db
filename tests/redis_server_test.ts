/**
 * The test harness's redis-server: a port another server answers on is
 * never taken for the one started (tests would share data, and one's stop
 * would close the other's connections).
 */

import assert from "node:assert/strict";
import { RedisServer, redisTest } from "./_redis_server.ts";

Deno.test(redisTest(
  "a server started on a port another Redis holds is refused, and a free port gets a server of its own",
  async () => {
    await using first = await RedisServer.start();
    await assert.rejects(
      RedisServer.start([], { port: first.port }),
      new RegExp(`port ${first.port} is taken by another server`),
    );
    await using second = await RedisServer.start();
    assert.notEqual(second.port, first.port);
    const info = await (await second.admin()).info("server");
    assert.match(info, new RegExp(`process_id:${second.pid}\\r\\n`));
  },
));
