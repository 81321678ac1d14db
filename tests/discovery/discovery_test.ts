import { MemoryDriver } from "../../testing/mod.ts";
import { RedisDriver } from "../../drivers/redis/mod.ts";
import { testDiscovery } from "./_discovery_suite.ts";
import { RedisServer, redisTest, trimLog } from "../_redis_server.ts";
import { PostgresDriver } from "../../drivers/postgres/mod.ts";
import { PostgresServer, postgresTest } from "../_postgres_server.ts";
import { EtcdDriver } from "../../drivers/etcd/mod.ts";
import { EtcdServer, etcdTest } from "../_etcd_server.ts";

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

etcdTest("discovery on etcd", async (t) => {
  await using server = await EtcdServer.start();
  const admin = server.client();
  try {
    await testDiscovery(t, {
      driver: () =>
        EtcdDriver.connect({ endpoints: [server.url], requestTimeout: 500 }),
      // Compaction drops etcd's history up to now, as a trimmed log would.
      trimChanges: async () => {
        const revision = (await admin.get("roster/").exec()).header.revision;
        await admin.kv.compact({ revision, physical: true });
      },
      // etcd's leases are whole seconds, at least two.
      timing: { ttl: 2_000, interval: 300 },
    });
  } finally {
    admin.close();
  }
});
