import { RedisDriver } from "../drivers/redis/mod.ts";
import { testDriverConformance } from "../testing/mod.ts";
import {
  RedisServer,
  redisTest,
  sleep,
  storedEntries,
  trimLog,
} from "./_redis_server.ts";

redisTest("redis driver passes the conformance suite", async (t) => {
  await using server = await RedisServer.start();
  const driver = await RedisDriver.connect({ url: server.url });
  const peer = await RedisDriver.connect({ url: server.url });
  try {
    const admin = await server.admin();
    await testDriverConformance((name, fn) => t.step(name, fn), {
      driver,
      peer,
      ttl: 300,
      advance: (ms) => sleep(ms),
      stored: (env) => storedEntries(admin, env),
      trimChanges: async (env) => {
        await trimLog(admin, env);
      },
    });
  } finally {
    await driver.close();
    await peer.close();
  }
});
