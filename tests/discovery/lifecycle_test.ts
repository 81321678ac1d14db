import { MemoryDriver } from "../../testing/mod.ts";
import { RedisDriver } from "../../drivers/redis/mod.ts";
import { PostgresDriver } from "../../drivers/postgres/mod.ts";
import { EtcdDriver } from "../../drivers/etcd/mod.ts";
import { testLifecycle } from "./_lifecycle_suite.ts";
import { RedisServer, redisTest } from "../_redis_server.ts";
import { PostgresServer, postgresTest } from "../_postgres_server.ts";
import { EtcdServer, etcdTest } from "../_etcd_server.ts";

Deno.test("drain, maintenance and eviction protection on the memory driver", async (t) => {
  const driver = new MemoryDriver();
  await testLifecycle(t, {
    driver: () => Promise.resolve(driver),
    ttl: 400,
  });
});

redisTest("drain, maintenance and eviction protection on Redis", async (t) => {
  await using server = await RedisServer.start();
  await testLifecycle(t, {
    driver: () => RedisDriver.connect({ url: server.url }),
    ttl: 400,
  });
});

postgresTest(
  "drain, maintenance and eviction protection on PostgreSQL",
  async (t) => {
    await using server = await PostgresServer.start();
    await testLifecycle(t, {
      driver: () => PostgresDriver.connect({ url: server.url }),
      ttl: 400,
    });
  },
);

etcdTest("drain, maintenance and eviction protection on etcd", async (t) => {
  await using server = await EtcdServer.start();
  await testLifecycle(t, {
    driver: () => EtcdDriver.connect({ endpoints: [server.url] }),
    // etcd's leases count whole seconds.
    ttl: 1_000,
  });
});
