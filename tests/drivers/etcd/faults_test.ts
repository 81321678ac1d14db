/**
 * etcd faults, on real servers the tests start: a restart with its data and
 * without it, a leader's lease revoked by hand, compaction past a watcher's
 * revision.
 */

import assert from "node:assert/strict";
import { collect, eventually } from "../../discovery/_discovery_suite.ts";
import { sleep } from "../../_redis_server.ts";
import { etcdRegistry, EtcdServer, etcdTest } from "../../_etcd_server.ts";

const INTERVAL = 500;
const TTL = 3_000;

function open(url: string, options: { service?: string; id?: string }) {
  return etcdRegistry(url, {
    heartbeatInterval: INTERVAL,
    ttl: TTL,
    requestTimeout: 1_000,
    ...options,
  });
}

Deno.test(etcdTest(
  "etcd restarted with its data: no leave; restarted without it: the instance is put back under its seq and watchers resync",
  async () => {
    await using server = await EtcdServer.start();
    await using a = await open(server.url, { service: "api", id: "a" });
    await using observer = await open(server.url, {});
    await a.registry.start();
    const controller = new AbortController();
    const seen = collect(
      observer.registry.watch("api", {
        current: true,
        signal: controller.signal,
      }),
    );
    try {
      await eventually("a seen", () => seen.lines().includes("join current a"));
      const seq = a.registry.instance()!.seq;
      await server.restart(1_000, true);
      await sleep(TTL + 1_000);
      assert.deepEqual(
        (await observer.registry.instances("api")).map((i) => i.id),
        ["a"],
      );
      assert.equal(a.registry.instance()!.seq, seq, "kept its registration");
      assert.ok(
        !seen.lines().some((l) => l.startsWith("leave")),
        seen.lines().join("\n"),
      );

      await server.restart(500, false);
      await eventually(
        "a back after the data loss",
        async () =>
          (await observer.registry.instances("api")).map((i) => i.id).join() ===
            "a",
        15_000,
      );
      // It kept running: etcd has it back under the same seq.
      assert.equal(a.registry.instance()?.seq, seq, "kept its seq");
      assert.deepEqual(
        (await observer.registry.instances("api")).map((i) => i.seq),
        [seq],
      );
      await eventually(
        "the watcher holds it again",
        () =>
          !(seen.lines().findLast((l) => / a$/.test(l)) ?? "").startsWith(
            "leave",
          ),
        15_000,
      );
    } finally {
      controller.abort();
      await seen.done.catch(() => {});
    }
  },
));

Deno.test(etcdTest(
  "etcd: a leader whose lease is revoked by hand loses leadership and comes back with a higher term; compaction past a watcher loses no join",
  async () => {
    await using server = await EtcdServer.start();
    await using a = await open(server.url, { service: "api", id: "a" });
    await using observer = await open(server.url, {});
    const admin = server.client();
    try {
      await a.registry.start();
      const first = await a.registry.standby();
      const [kv] = (await admin.get("roster/default/i/a").exec()).kvs;
      await admin.leaseClient.leaseRevoke({ ID: kv!.lease });
      await eventually("leadership lost", () => first.signal.aborted, 10_000);
      const second = await a.registry.standby();
      assert.ok(second.term > first.term, `${second.term} > ${first.term}`);

      const controller = new AbortController();
      const seen = collect(
        observer.registry.watch("api", { signal: controller.signal }),
      );
      await using b = await open(server.url, { service: "api", id: "b" });
      await b.registry.start();
      await eventually(
        "b seen",
        () => seen.lines().includes("join registered b"),
      );
      const revision = (await admin.get("roster/").exec()).header.revision;
      await admin.kv.compact({ revision, physical: true });
      await using c = await open(server.url, { service: "api", id: "c" });
      await c.registry.start();
      await eventually(
        "c seen after the compaction",
        () => seen.lines().some((l) => l.endsWith(" c")),
        10_000,
      );
      controller.abort();
      await seen.done.catch(() => {});
    } finally {
      admin.close();
    }
  },
));
