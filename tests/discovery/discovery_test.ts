import { MemoryDriver } from "../../testing/mod.ts";
import { RedisDriver } from "../../drivers/redis/mod.ts";
import { testDiscovery } from "./_discovery_suite.ts";
import { RedisServer, redisTest, trimLog } from "../_redis_server.ts";

Deno.test("discovery on the memory driver", async (t) => {
  const driver = new MemoryDriver();
  await testDiscovery(t, {
    driver: () => Promise.resolve(driver),
    trimChanges: (env) => Promise.resolve(driver.trimChanges(env)),
  });
});

redisTest("discovery on Redis", async (t) => {
  await using server = await RedisServer.start();
  const admin = await server.admin();
  await testDiscovery(t, {
    driver: () => RedisDriver.connect({ url: server.url, commandTimeout: 500 }),
    trimChanges: async (env) => {
      await trimLog(admin, env);
    },
  });
});
