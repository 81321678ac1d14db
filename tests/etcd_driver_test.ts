import assert from "node:assert/strict";
import { EtcdDriver } from "../drivers/etcd/mod.ts";
import { testDriverConformance } from "../testing/mod.ts";
import { sleep } from "./_redis_server.ts";
import { EtcdServer, etcdTest } from "./_etcd_server.ts";

etcdTest("etcd driver passes the conformance suite", async (t) => {
  await using server = await EtcdServer.start();
  const driver = await EtcdDriver.connect({ endpoints: [server.url] });
  const peer = await EtcdDriver.connect({ endpoints: [server.url] });
  const admin = server.client();
  try {
    await testDriverConformance((name, fn) => t.step(name, fn), {
      driver,
      peer,
      // etcd's smallest lease is 2 s, and it revokes expired leases about
      // twice a second.
      ttl: 2_000,
      expirySlackMs: 700,
      advance: (ms) => sleep(ms),
      stored: async (env) =>
        await admin.getAll().prefix(`roster/${env}/i/`).count(),
      trimChanges: async () => {
        const revision = (await admin.get("roster/").exec()).header.revision;
        await admin.kv.compact({ revision, physical: true });
      },
    });
  } finally {
    await driver.close();
    await peer.close();
    admin.close();
  }
});

etcdTest(
  "etcd has no messaging: broadcast fails naming the driver",
  async () => {
    await using server = await EtcdServer.start();
    const driver = await EtcdDriver.connect({ endpoints: [server.url] });
    const { Registry } = await import("../mod.ts");
    const registry = new Registry({
      driver,
      service: "api",
      heartbeatInterval: "1s",
      ttl: "3s",
    });
    try {
      await registry.start();
      await assert.rejects(
        registry.broadcast("api", { hello: 1 }),
        /Cannot send messages: the etcd driver has no pub\/sub/,
      );
    } finally {
      await registry.stop();
      await driver.close();
    }
  },
);
