/**
 * The cases an operations team found by breaking etcd under roster, each
 * from the side that breaks the promise: a heartbeat that writes, a freeze
 * longer than the ttl, the epoch key deleted, and an epoch begun again by a
 * slow clock after etcd lost its data.
 */

import assert from "node:assert/strict";
import type { Registry } from "../../../mod.ts";
import { collect, eventually } from "../../discovery/_discovery_suite.ts";
import { etcdRegistry, EtcdServer, etcdTest } from "../../_etcd_server.ts";
import { sleep } from "../../_redis_server.ts";
import { registration } from "../../_registration.ts";
import { EtcdDriver } from "../../../drivers/etcd/mod.ts";

const INTERVAL = 400;
const TTL = 2_000;

function open(
  url: string,
  options: { service?: string; id?: string; protection?: false } = {},
) {
  return etcdRegistry(url, {
    heartbeatInterval: INTERVAL,
    ttl: TTL,
    requestTimeout: 300,
    ...options,
  });
}

/** A signal that aborts after `ms`, its timer cleared on dispose. */
function within(ms: number): { signal: AbortSignal } & Disposable {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  return {
    signal: controller.signal,
    [Symbol.dispose]: () => clearTimeout(timer),
  };
}

async function revision(admin: ReturnType<EtcdServer["client"]>) {
  return (await admin.get("roster/").exec()).header.revision;
}

Deno.test(etcdTest(
  "a heartbeat writes nothing: etcd's revision stays put while instances beat",
  async () => {
    await using server = await EtcdServer.start();
    const admin = server.client();
    try {
      await using a = await open(server.url, { service: "api", id: "a" });
      await using b = await open(server.url, { service: "api", id: "b" });
      await a.registry.start();
      await b.registry.start();
      let beats = 0;
      a.registry.on("heartbeat", () => beats++);
      const before = await revision(admin);
      await eventually("four beats", () => beats >= 4, 10_000);
      assert.equal(await revision(admin), before, "no write since");
      // The listing still tells the truth: both, read alive now.
      const listed = await a.driver.list({ env: "default" });
      assert.deepEqual(listed.map((i) => i.id), ["a", "b"]);
    } finally {
      admin.close();
    }
  },
));

Deno.test(etcdTest(
  "a freeze of etcd past the ttl: each owner that kept running is back within an interval under its seq; a watcher sees a leave and a join, or nothing, as the driver's limitations say",
  async () => {
    await using server = await EtcdServer.start();
    await using a = await open(server.url, { service: "api", id: "a" });
    await using bare = await open(server.url, { protection: false });
    await using held = await open(server.url, {});
    assert.equal(a.driver.limitations.dropsLiveEntries, true);
    await a.registry.start();
    const seq = a.registry.instance()!.seq;
    const reregistered: number[] = [];
    a.registry.on(
      "reregistered",
      ({ instance }) => reregistered.push(instance.seq),
    );
    const controller = new AbortController();
    const watch = (registry: Registry) =>
      collect(
        registry.watch("api", { current: true, signal: controller.signal }),
      );
    const seenBare = watch(bare.registry);
    const seenHeld = watch(held.registry);
    try {
      await eventually(
        "both watchers hold a",
        () =>
          seenBare.lines().includes("join current a") &&
          seenHeld.lines().includes("join current a"),
      );
      Deno.kill(server.pid, "SIGSTOP");
      await sleep(TTL * 2);
      Deno.kill(server.pid, "SIGCONT");
      // Back within an interval and its own retry after etcd resumes (the
      // deadline allows etcd a second to answer again).
      await eventually(
        "a listed again",
        async () =>
          (await bare.driver.list({ env: "default" }).catch(() => []))
            .some((i) => i.id === "a"),
        INTERVAL * 2 + 1_000,
      );
      await eventually(
        "the owner beating again",
        () => a.registry.heartbeatState === "healthy",
      );
      assert.equal(a.registry.instance()?.seq, seq, "the same seq");
      assert.deepEqual(reregistered, [], "put back, not registered anew");
      const [listed] = await bare.driver.list({ env: "default" });
      assert.equal(listed?.seq, seq);
      // A leave (expired) then a join (reregistered) under the same seq, as
      // the driver's limitations say, or nothing where the keep-alive landed
      // before etcd revoked the lease; never a leave last. Eviction
      // protection (the held watcher's default) does not change that here:
      // it holds expiries only once more than half of a service of at least
      // three expired within a ttl, and this service is one instance.
      for (
        const [name, seen] of [["bare", seenBare], ["held", seenHeld]] as const
      ) {
        await eventually(`the ${name} watcher settles`, () => {
          const after = seen.lines().slice(1);
          return after.length === 0 || after.at(-1) === "join reregistered a";
        }, 10_000);
        const after = seen.lines().slice(1);
        for (let i = 0; i < after.length; i += 2) {
          assert.deepEqual(after.slice(i, i + 2), [
            "leave expired a",
            "join reregistered a",
          ], `${name}: ${seen.lines().join(", ")}`);
        }
        for (const event of seen.events) {
          assert.equal(event.instance.seq, seq);
        }
      }
    } finally {
      controller.abort();
      await Promise.all([seenBare.done, seenHeld.done]).catch(() => {});
    }
  },
));

Deno.test(etcdTest(
  "the epoch key deleted: seqs stay, views agree, and a leader appears again after the leader dies",
  async () => {
    await using server = await EtcdServer.start();
    const admin = server.client();
    try {
      const a = await open(server.url, { service: "cron", id: "a" });
      await using b = await open(server.url, { service: "cron", id: "b" });
      await a.registry.start();
      await b.registry.start();
      const first = await a.registry.standby();
      const seqs = (await b.driver.list({ env: "default" })).map((i) => i.seq);
      await admin.delete().key("roster/epoch").exec();
      // A driver that starts now reads the same seqs.
      await using cold = await open(server.url);
      assert.deepEqual(
        (await cold.driver.list({ env: "default" })).map((i) => i.seq),
        seqs,
      );
      // The leader crashes: it stops beating and never resigns.
      await a.driver.close();
      await eventually(
        "b leads",
        async () => (await cold.registry.leader("cron"))?.id === "b",
        TTL + 3_000,
      );
      using deadline = within(TTL * 3);
      const second = await b.registry.standby({ signal: deadline.signal });
      assert.ok(second.term > first.term, `${second.term} > ${first.term}`);
      await a.registry.stop().catch(() => {});
    } finally {
      admin.close();
    }
  },
));

Deno.test(etcdTest(
  "etcd lost its data and a slow clock began the epoch again: a process that saw the old terms raises it, and terms still rise",
  async () => {
    await using server = await EtcdServer.start();
    const admin = server.client();
    try {
      await using a = await open(server.url, { service: "cron", id: "a" });
      await a.registry.start();
      const first = await a.registry.standby();
      await server.restart(0, false);
      // As from a client one hour slow, before anyone else wrote.
      const slow = (Date.now() - 3_600_000) * 1000;
      await admin.put("roster/epoch").value(String(slow)).exec();
      await eventually(
        "the old term ends",
        () => first.signal.aborted,
        TTL * 4,
      );
      using deadline = within(TTL * 5);
      const second = await a.registry.standby({ signal: deadline.signal });
      assert.ok(second.term > first.term, `${second.term} > ${first.term}`);
      const epoch = Number(await admin.get("roster/epoch").string());
      assert.ok(epoch >= first.term, `the epoch ${epoch} was raised`);
    } finally {
      admin.close();
    }
  },
));

Deno.test(etcdTest(
  "etcd restarted without its data, whose new revisions pass a watcher's cursor: the watcher still drops an instance that died meanwhile",
  async () => {
    await using server = await EtcdServer.start();
    await using a = await open(server.url, { service: "api", id: "a" });
    const c = await open(server.url, { service: "api", id: "c" });
    await using watcher = await open(server.url, { protection: false });
    await a.registry.start();
    await c.registry.start();
    const controller = new AbortController();
    const seen = collect(
      watcher.registry.watch("api", {
        current: true,
        signal: controller.signal,
      }),
    );
    const late: Awaited<ReturnType<typeof open>>[] = [];
    try {
      await eventually("c seen", () => seen.lines().includes("join current c"));
      // c crashes; etcd loses everything before its lease runs out.
      await c.driver.close();
      await server.restart(0, false);
      // Enough writes that the new revisions pass the watcher's cursor.
      for (let i = 0; i < 8; i++) {
        const member = await open(server.url, { service: "api", id: `n${i}` });
        late.push(member);
        await member.registry.start();
      }
      await eventually(
        "the watcher drops c",
        () => seen.lines().some((l) => /^leave \S+ c$/.test(l)),
        TTL + 1_000,
      );
      // a kept running: if it left the watcher's view, it came back.
      await eventually(
        "the watcher holds a",
        () => seen.lines().findLast((l) => / a$/.test(l))?.startsWith("join"),
      );
    } finally {
      controller.abort();
      await seen.done.catch(() => {});
      for (const member of late) await member[Symbol.asyncDispose]();
      await c.registry.stop().catch(() => {});
    }
  },
));

Deno.test(etcdTest(
  "a restart of etcd renews every lease, as the driver's limitations say: an instance that died just before is listed after etcd is back, and gone by a ttl, etcd's election timeout and a second",
  async () => {
    await using server = await EtcdServer.start();
    const c = await open(server.url, { service: "api", id: "c" });
    await using observer = await open(server.url);
    assert.equal(observer.driver.limitations.restartRenewsLeases, true);
    await c.registry.start();
    // c crashes, and etcd restarts with its data before c's lease runs out.
    await c.driver.close();
    await server.restart(0, true);
    const listed = await observer.driver.list({ env: "default" });
    assert.deepEqual(listed.map((i) => i.id), ["c"], "renewed, still listed");
    await eventually(
      "c gone",
      async () => (await observer.driver.list({ env: "default" })).length === 0,
      // A ttl, etcd's election timeout (1 s) that its leader adds, and a
      // second.
      TTL + 2_000,
    );
    await c.registry.stop().catch(() => {});
  },
));

Deno.test(etcdTest(
  "a key deleted by hand: its owner puts it back within an interval under its seq, and a watcher sees a leave and a join, as the driver's limitations say",
  async () => {
    await using server = await EtcdServer.start();
    await using a = await open(server.url, { service: "api", id: "a" });
    await using bare = await open(server.url, { protection: false });
    const admin = server.client();
    await a.registry.start();
    const seq = a.registry.instance()!.seq;
    const controller = new AbortController();
    const seen = collect(
      bare.registry.watch("api", { current: true, signal: controller.signal }),
    );
    try {
      await eventually("a seen", () => seen.lines().includes("join current a"));
      await admin.delete().key("roster/default/i/a").exec();
      await eventually(
        "a back",
        async () =>
          (await bare.driver.list({ env: "default" })).some((i) =>
            i.id === "a" && i.seq === seq
          ),
        INTERVAL * 2 + 1_000,
      );
      await eventually(
        "the watcher sees it come back",
        () => seen.lines().at(-1) === "join reregistered a",
      );
      assert.deepEqual(seen.lines(), [
        "join current a",
        "leave expired a",
        "join reregistered a",
      ]);
      assert.ok(seen.events.every((event) => event.instance.seq === seq));
    } finally {
      controller.abort();
      await seen.done.catch(() => {});
      admin.close();
    }
  },
));

Deno.test(etcdTest(
  "etcd restarted from an older snapshot: its revisions went back, yet terms still rise and no new seq repeats one seen before",
  async () => {
    await using server = await EtcdServer.start();
    await using a = await open(server.url, { service: "cron", id: "a" });
    await a.registry.start();
    const first = await a.registry.standby();
    await server.saveSnapshot();
    // More history after the snapshot: registrations and a new term.
    const seen = new Set<number>([a.registry.instance()!.seq]);
    await using b = await open(server.url, { service: "cron", id: "b" });
    await b.registry.start();
    seen.add(b.registry.instance()!.seq);
    await a.registry.stop();
    using deadline = within(TTL * 3);
    const second = await b.registry.standby({ signal: deadline.signal });
    assert.ok(second.term > first.term);
    const extras = [];
    for (let i = 0; i < 5; i++) {
      const extra = await open(server.url, { service: "api", id: `x${i}` });
      extras.push(extra);
      await extra.registry.start();
      seen.add(extra.registry.instance()!.seq);
    }
    // b saw them: the promise holds while a process that saw a seq runs.
    assert.equal((await b.driver.list({ env: "default" })).length, 6);
    for (const extra of extras) await extra[Symbol.asyncDispose]();
    await server.restoreSnapshot();
    // b kept running: it is put back, and leads again under a higher term.
    await eventually("b's term ends", () => second.signal.aborted, TTL * 3);
    using again = within(TTL * 5);
    const third = await b.registry.standby({ signal: again.signal });
    assert.ok(third.term > second.term, `${third.term} > ${second.term}`);
    assert.equal(b.registry.instance()?.seq, [...seen][1], "b kept its seq");
    // A new registration takes a seq no one had.
    await using c = await open(server.url, { service: "api", id: "c" });
    await c.registry.start();
    assert.ok(!seen.has(c.registry.instance()!.seq));
    assert.ok(c.registry.instance()!.seq > Math.max(...seen));
  },
));

Deno.test(etcdTest(
  "a leader granted just before etcd restarts without data: no other is granted while its lease may run, and one is once it cannot",
  async () => {
    await using server = await EtcdServer.start();
    const a = await EtcdDriver.connect({
      endpoints: [server.url],
      requestTimeout: 300,
    });
    const b = await EtcdDriver.connect({
      endpoints: [server.url],
      requestTimeout: 300,
    });
    try {
      const first = registration({
        id: "a",
        ttl: TTL,
        heartbeatInterval: INTERVAL,
      });
      const second = registration({
        id: "b",
        ttl: TTL,
        heartbeatInterval: INTERVAL,
      });
      await a.register(first);
      await b.register(second);
      const term = await a.campaign(first);
      assert.ok(term !== undefined, "a leads");
      // a's lease counts from here: as far as a knows it leads until then.
      const leaseEnds = performance.now() + TTL;
      await server.restart(0, false);
      // b beats first: its key was lost, so it is written again, and it is
      // now the oldest instance, with no term on record.
      await eventually("b is back", async () => {
        try {
          return (await b.heartbeat(second)).instance.id === "b";
        } catch {
          return false;
        }
      }, 10_000);
      assert.equal(await b.campaign(second), undefined, "a may still lead");
      // The guard is a wait, not a ban: once a's lease cannot run, b leads,
      // with a term above a's.
      await eventually("b leads", async () => {
        await b.heartbeat(second);
        const next = await b.campaign(second);
        if (next === undefined) return false;
        assert.ok(performance.now() >= leaseEnds, "not while a's lease ran");
        assert.ok(next > term, `${next} > ${term}`);
        return true;
      }, TTL * 3);
    } finally {
      await a.close();
      await b.close();
    }
  },
));
