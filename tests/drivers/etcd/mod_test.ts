import assert from "node:assert/strict";
import { EtcdDriver } from "../../../drivers/etcd/mod.ts";
import { EtcdServer, etcdTest } from "../../_etcd_server.ts";

Deno.test(etcdTest(
  "etcd has no messaging: broadcast fails naming the driver",
  async () => {
    await using server = await EtcdServer.start();
    const driver = await EtcdDriver.connect({ endpoints: [server.url] });
    const { Registry } = await import("../../../mod.ts");
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
));
