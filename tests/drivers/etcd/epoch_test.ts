/**
 * The epoch keeps every `seq` and term a driver hands out above all it saw,
 * whatever etcd did to the epoch key meanwhile.
 */

import assert from "node:assert/strict";
import { Epoch } from "../../../drivers/etcd/_epoch.ts";
import { EtcdDriver } from "../../../drivers/etcd/mod.ts";
import { EtcdServer, etcdTest } from "../../_etcd_server.ts";

Deno.test(etcdTest(
  "etcd epoch: begun once in microseconds, shared, and raised above what was seen after the key is lost",
  async () => {
    await using server = await EtcdServer.start();
    const driver = await EtcdDriver.connect({ endpoints: [server.url] });
    try {
      const key = "roster-test/epoch";
      const before = Date.now() * 1000;
      const a = new Epoch(driver.client, key);
      const b = new Epoch(driver.client, key);
      const first = await a.value();
      assert.ok(first >= before && first <= Date.now() * 1000, String(first));
      // Another process finds the same epoch; a read is kept until forgotten.
      assert.equal(await b.value(), first);
      const mark = await a.mark();
      assert.match(mark, new RegExp(`^${first}@\\d+$`));

      // A seq far above now was seen, then the key was lost: the epoch that
      // begins again starts at that seq, not at the clock.
      const seen = first + 10 ** 12;
      assert.equal(a.saw(seen), seen);
      await driver.client.delete().key(key).exec();
      a.forget();
      const next = await a.value();
      assert.ok(next >= seen, `${next} < ${seen}`);
      assert.notEqual(await a.mark(), mark);

      // An epoch that would hand out less than was seen is read again.
      assert.ok(a.belowSeen(0, "1"));
      assert.ok(!a.belowSeen(next, "1"));
      assert.equal(a.saw(5), 5);
      assert.equal(await a.value(), next);
    } finally {
      await driver.close();
    }
  },
));
