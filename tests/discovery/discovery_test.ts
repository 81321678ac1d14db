import { MemoryDriver } from "../../testing/mod.ts";
import { RedisDriver } from "../../drivers/redis/mod.ts";
import { testDiscovery } from "./_discovery_suite.ts";
import { RedisServer, redisTest, trimLog } from "../_redis_server.ts";
import { PostgresDriver } from "../../drivers/postgres/mod.ts";
import { PostgresServer, postgresTest } from "../_postgres_server.ts";

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

postgresTest("discovery on PostgreSQL", async (t) => {
  await using server = await PostgresServer.start();
  await testDiscovery(t, {
    driver: () => PostgresDriver.connect({ url: server.url }),
    trimChanges: async (env) => {
      // Keeps the last change, as a capped log does once it trims.
      await server.query(
        `delete from roster.changes where env = $1
         and pos < (select max(pos) from roster.changes where env = $1)`,
        [env],
      );
    },
  });
});
