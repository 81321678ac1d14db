/**
 * The conformance suite's cases, written once for every driver, as hono's
 * routers share one case file: each case works in an env of its own, so
 * the backend needs no flushing between them.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Change, Driver, Registration } from "./driver.ts";
import { AlreadyRegisteredError, ChangeLogGapError } from "../errors.ts";
import type { Instance, InstanceStatus } from "../instance.ts";
import type { ConformanceHarness } from "./conformance.ts";

/** What every case gets: the drivers, the timing and shared helpers. */
export interface ConformanceContext {
  /** The driver under test. */
  driver: Driver;
  /** A second driver on the same backend. */
  peer: Driver;
  /** The ttl cases register with, in ms. */
  ttl: number;
  /** How long past its expiry an entry may still be listed, in ms. */
  slack: number;
  /** The harness, for its clock and checks. */
  harness: ConformanceHarness;
  /** A fresh env name. */
  newEnv(): string;
  /** Lets `ms` pass on the backend's clock. */
  wait(env: string, ms: number): Promise<void>;
  /**
   * An instance as a listing shows it: a backend that records no beat times
   * lists it as read alive then.
   */
  asListed(listed: Instance | undefined, stored: Instance): Instance;
  /** Calls purge until `done` holds (one process may purge at a time). */
  purgeUntil(env: string, done: () => Promise<boolean>): Promise<void>;
  /** A batch's changes of a service, as `type reason id` lines. */
  summary(batch: { changes: Change[] }, service?: string): string[];
}

/** One case of the suite. */
export interface ConformanceCase {
  /** What it checks. */
  name: string;
  /** Whether it applies to this driver (messaging is optional). */
  applies?(context: ConformanceContext): boolean;
  /** Runs it; rejects when it fails. */
  run(context: ConformanceContext): Promise<void>;
}

let counter = 0;

/** A registration of service `api` in `env`, with every field set. */
function registration(
  env: string,
  ttl: number,
  overrides: Partial<Registration> = {},
): Registration {
  return {
    id: `i-${++counter}`,
    service: "api",
    env,
    version: "1.0.0",
    addr: "http://127.0.0.1:8080",
    meta: { zone: "eu-1", note: "héllo ✓" },
    hostname: "host-a",
    pid: 4242,
    owner: crypto.randomUUID(),
    status: "healthy",
    ttl,
    heartbeatInterval: Math.floor(ttl / 3),
    ...overrides,
  };
}

/** Every case, in the order the suite runs them. */
export const CONFORMANCE_CASES: readonly ConformanceCase[] = [
  {
    name: "register stores every field and assigns seq and times",
    async run({ driver, peer, ttl, newEnv, asListed }) {
      const env = newEnv();
      const reg = registration(env, ttl);
      const instance = await driver.register(reg);
      assert.equal(instance.id, reg.id);
      assert.equal(instance.service, "api");
      assert.equal(instance.env, env);
      assert.equal(instance.version, "1.0.0");
      assert.equal(instance.addr, "http://127.0.0.1:8080");
      assert.deepEqual(instance.meta, { zone: "eu-1", note: "héllo ✓" });
      assert.equal(instance.hostname, "host-a");
      assert.equal(instance.pid, 4242);
      assert.equal(instance.heartbeatInterval, reg.heartbeatInterval);
      assert.equal(instance.weight, 100, "100 when not given");
      assert.ok(Number.isInteger(instance.seq) && instance.seq > 0);
      assert.equal(instance.heartbeatAt, instance.registeredAt);
      assert.equal(instance.expiresAt, instance.heartbeatAt + ttl);
      assert.equal("owner" in instance, false, "the owner token must not leak");
      const [listed] = await peer.list({ env });
      assert.deepEqual(listed, asListed(listed, instance));
    },
  },
  {
    name: "a weight is stored, listed and kept by heartbeats",
    async run({ driver, peer, ttl, newEnv }) {
      const env = newEnv();
      const reg = registration(env, ttl, { weight: 7 });
      assert.equal((await driver.register(reg)).weight, 7);
      assert.equal((await peer.list({ env }))[0]?.weight, 7);
      assert.equal((await driver.heartbeat(reg)).instance.weight, 7);
      assert.equal((await peer.snapshot(env)).instances[0]?.weight, 7);
    },
  },
  {
    name:
      "a live owner's id cannot be taken; the same owner may register again",
    async run({ driver, peer, ttl, newEnv }) {
      const env = newEnv();
      const reg = registration(env, ttl);
      const first = await driver.register(reg);
      await assert.rejects(
        peer.register({ ...reg, owner: crypto.randomUUID(), addr: "other" }),
        AlreadyRegisteredError,
      );
      const again = await driver.register(reg);
      assert.equal(again.seq, first.seq);
      const listed = await peer.list({ env });
      assert.equal(listed.length, 1);
      assert.equal(listed[0]?.addr, "http://127.0.0.1:8080");
    },
  },
  {
    name: "an expired id can be taken by a new owner, with a higher seq",
    async run({ driver, peer, ttl, slack, newEnv, wait }) {
      const env = newEnv();
      const reg = registration(env, ttl);
      const first = await driver.register(reg);
      await wait(env, ttl + slack);
      assert.deepEqual(await peer.list({ env, services: ["api"] }), []);
      const taken = await peer.register({ ...reg, owner: crypto.randomUUID() });
      assert.ok(taken.seq > first.seq);
      await assert.rejects(driver.heartbeat(reg), AlreadyRegisteredError);
    },
  },
  {
    name: "a heartbeat extends expiry and keeps seq and registeredAt",
    async run({ driver, peer, ttl, newEnv, wait }) {
      const env = newEnv();
      const reg = registration(env, ttl);
      const first = await driver.register(reg);
      await wait(env, Math.floor(ttl / 2));
      const beat = await driver.heartbeat(reg);
      assert.equal(beat.reregistered, false);
      assert.equal(beat.instance.seq, first.seq);
      assert.equal(beat.instance.registeredAt, first.registeredAt);
      assert.ok(beat.instance.heartbeatAt > first.heartbeatAt);
      assert.equal(beat.instance.expiresAt, beat.instance.heartbeatAt + ttl);
      await wait(env, Math.floor(ttl / 2) + 20);
      assert.equal(
        (await peer.list({ env, services: ["api"] })).length,
        1,
        "still live",
      );
    },
  },
  {
    name: "a heartbeat re-creates a missing registration with a new seq",
    async run({ driver, peer, ttl, newEnv }) {
      const env = newEnv();
      const reg = registration(env, ttl);
      const first = await driver.register(reg);
      assert.equal(await driver.deregister(reg), true);
      const beat = await driver.heartbeat(reg);
      assert.equal(beat.reregistered, true);
      assert.ok(beat.instance.seq > first.seq);
      assert.deepEqual(beat.instance.meta, reg.meta);
      assert.equal((await peer.list({ env }))[0]?.id, reg.id);
      assert.equal(
        (await peer.list({ env }))[0]?.heartbeatInterval,
        reg.heartbeatInterval,
      );
    },
  },
  {
    name: "a heartbeat after expiry re-registers with a new seq",
    async run({ driver, ttl, slack, newEnv, wait }) {
      const env = newEnv();
      const reg = registration(env, ttl);
      const first = await driver.register(reg);
      await wait(env, ttl + slack);
      const beat = await driver.heartbeat(reg);
      assert.equal(beat.reregistered, true);
      assert.ok(beat.instance.seq > first.seq);
    },
  },
  {
    name: "another owner can neither refresh nor delete a registration",
    async run({ driver, peer, ttl, newEnv, asListed }) {
      const env = newEnv();
      const reg = registration(env, ttl);
      const first = await driver.register(reg);
      const stranger = { ...reg, owner: crypto.randomUUID() };
      await assert.rejects(peer.heartbeat(stranger), AlreadyRegisteredError);
      assert.equal(await peer.deregister(stranger), false);
      const [listed] = await peer.list({ env });
      assert.equal(listed?.seq, first.seq);
      assert.equal(listed?.expiresAt, asListed(listed, first).expiresAt);
    },
  },
  {
    name: "deregister removes once, by its owner",
    async run({ driver, peer, ttl, newEnv, harness }) {
      const env = newEnv();
      const reg = registration(env, ttl);
      await driver.register(reg);
      assert.equal(await driver.deregister(reg), true);
      assert.equal(await driver.deregister(reg), false);
      assert.deepEqual(await peer.list({ env }), []);
      assert.deepEqual(await peer.services(env), []);
      assert.equal(await harness.stored(env), 0);
    },
  },
  {
    name: "list is oldest first, filters by service, and keeps envs apart",
    async run({ driver, peer, ttl, newEnv }) {
      const env = newEnv();
      const other = newEnv();
      const a = registration(env, ttl, { service: "api" });
      const b = registration(env, ttl, { service: "worker" });
      const c = registration(env, ttl, { service: "api" });
      const d = registration(other, ttl, { service: "api" });
      for (const reg of [a, b, c, d]) await driver.register(reg);
      await driver.heartbeat(a);
      const ids = (list: { id: string }[]) => list.map((i) => i.id);
      assert.deepEqual(ids(await peer.list({ env })), [a.id, b.id, c.id]);
      assert.deepEqual(ids(await peer.list({ env, services: [] })), [
        a.id,
        b.id,
        c.id,
      ]);
      assert.deepEqual(ids(await peer.list({ env, services: ["api"] })), [
        a.id,
        c.id,
      ]);
      assert.deepEqual(
        ids(await peer.list({ env, services: ["worker", "api"] })),
        [a.id, b.id, c.id],
      );
      assert.deepEqual(await peer.list({ env, services: ["none"] }), []);
      assert.deepEqual(await peer.services(env), ["api", "worker"]);
      assert.deepEqual(ids(await peer.list({ env: other })), [d.id]);
    },
  },
  {
    name:
      "envs names each env with a live instance, and none whose instances left or lapsed",
    async run({ driver, peer, ttl, slack, newEnv, wait }) {
      // Optional in the contract; a driver that has it must tell the truth.
      if (!driver.envs || !peer.envs) return;
      const live = newEnv();
      const left = newEnv();
      const lapsed = newEnv();
      await driver.register(registration(live, ttl * 10));
      const leaving = registration(left, ttl * 10);
      await driver.register(leaving);
      await driver.register(registration(lapsed, ttl));
      assert.equal(await driver.deregister(leaving), true);
      await wait(lapsed, ttl + slack);
      const envs = await peer.envs();
      assert.ok(envs.includes(live), `${live} in ${envs}`);
      assert.ok(!envs.includes(left), `${left} not in ${envs}`);
      assert.ok(!envs.includes(lapsed), `${lapsed} not in ${envs}`);
      assert.deepEqual(envs, [...envs].sort());
    },
  },
  {
    name: "an expired entry is never listed, even before any purge",
    async run({ driver, peer, ttl, slack, newEnv, wait, harness }) {
      const env = newEnv();
      const regs = Array.from({ length: 20 }, () => registration(env, ttl));
      for (const reg of regs) await driver.register(reg);
      assert.equal(await harness.stored(env), 20);
      await wait(env, ttl + slack);
      assert.deepEqual(await peer.list({ env, services: ["api"] }), []);
      assert.deepEqual(await peer.list({ env }), []);
      assert.deepEqual((await peer.snapshot(env)).instances, []);
      assert.deepEqual(await peer.services(env), []);
    },
  },
  {
    name: "expired entries are purged, so storage does not grow",
    async run({ driver, peer, ttl, slack, newEnv, wait, purgeUntil, harness }) {
      const env = newEnv();
      const regs = Array.from({ length: 20 }, () => registration(env, ttl));
      for (const reg of regs) await driver.register(reg);
      const live = registration(env, ttl * 4, { service: "worker" });
      await driver.register(live);
      await wait(env, ttl + slack);
      await purgeUntil(env, async () => await harness.stored(env) === 1);
      assert.deepEqual((await peer.list({ env })).map((i) => i.id), [live.id]);
    },
  },
  {
    name: "registrations from many owners at once: exactly one owner wins",
    async run({ driver, peer, ttl, newEnv }) {
      const env = newEnv();
      const base = registration(env, ttl);
      const contenders = Array.from({ length: 20 }, (_, i) => ({
        ...base,
        owner: crypto.randomUUID(),
        addr: `contender-${i}`,
      }));
      const results = await Promise.allSettled(
        contenders.map((reg, i) => (i % 2 ? peer : driver).register(reg)),
      );
      const won = results.filter((r) => r.status === "fulfilled");
      assert.equal(won.length, 1);
      for (const r of results) {
        if (r.status === "rejected") {
          assert.ok(r.reason instanceof AlreadyRegisteredError);
        }
      }
      const listed = await peer.list({ env });
      assert.equal(listed.length, 1);
      assert.equal(
        listed[0]?.addr,
        (won[0] as PromiseFulfilledResult<{ addr: string }>).value.addr,
      );
    },
  },
  {
    name: "changes record joins and leaves with their reasons",
    async run({ driver, peer, ttl, newEnv, summary }) {
      const env = newEnv();
      const { cursor } = await peer.snapshot(env);
      const a = registration(env, ttl, { id: "a" });
      const b = registration(env, ttl, { id: "b" });
      await driver.register(a);
      await driver.register(b);
      await driver.deregister(a);
      await driver.deregister(b);
      await driver.heartbeat(b);
      const batch = await peer.changes(env, cursor, { waitMs: 0 });
      assert.deepEqual(summary(batch), [
        "join registered a",
        "join registered b",
        "leave deregistered a",
        "leave deregistered b",
        "join reregistered b",
      ]);
      const joined = batch.changes[0]?.instance;
      assert.equal(joined?.addr, "http://127.0.0.1:8080");
      assert.deepEqual(joined?.meta, a.meta);
      assert.equal(joined?.heartbeatInterval, a.heartbeatInterval);
      assert.equal(joined?.weight, a.weight ?? 100);
      const again = await peer.changes(env, batch.cursor, { waitMs: 0 });
      assert.deepEqual(again.changes, []);
      assert.equal(again.cursor, batch.cursor);
    },
  },
  {
    name:
      "a changed status is stored by the next heartbeat and recorded as an update",
    async run({ driver, peer, ttl, newEnv }) {
      const env = newEnv();
      const reg = registration(env, ttl);
      const first = await driver.register(reg);
      assert.equal(first.status, "healthy");
      const { cursor } = await peer.snapshot(env);
      const sick = { ...reg, status: "unhealthy" as const };
      const beat = await driver.heartbeat(sick);
      assert.equal(beat.instance.status, "unhealthy");
      assert.equal(beat.instance.seq, first.seq);
      assert.equal((await peer.list({ env }))[0]?.status, "unhealthy");
      await driver.heartbeat(sick); // unchanged: nothing recorded
      await driver.heartbeat(reg);
      const batch = await peer.changes(env, cursor, { waitMs: 0 });
      assert.deepEqual(
        batch.changes.map((c) => `${c.type} ${c.reason} ${c.instance.status}`),
        ["update health unhealthy", "update health healthy"],
      );
    },
  },
  {
    name: "a snapshot shows the live instances and where the log stands",
    async run({ driver, peer, ttl, newEnv, summary }) {
      const env = newEnv();
      const a = registration(env, ttl, { id: "a" });
      await driver.register(a);
      const snapshot = await peer.snapshot(env);
      assert.deepEqual(snapshot.instances.map((i) => i.id), ["a"]);
      await driver.register(registration(env, ttl, { id: "b" }));
      const batch = await peer.changes(env, snapshot.cursor, { waitMs: 0 });
      assert.deepEqual(summary(batch), ["join registered b"]);
    },
  },
  {
    name: "an expiry is recorded as a leave once purged",
    async run(
      { driver, peer, ttl, slack, newEnv, wait, purgeUntil, summary, harness },
    ) {
      const env = newEnv();
      const { cursor } = await peer.snapshot(env);
      await driver.register(registration(env, ttl, { id: "gone" }));
      await wait(env, ttl + slack);
      await purgeUntil(env, async () => await harness.stored(env) === 0);
      const batch = await peer.changes(env, cursor, { waitMs: 0 });
      assert.deepEqual(summary(batch), [
        "join registered gone",
        "leave expired gone",
      ]);
    },
  },
  {
    name: "changes waits for the next change",
    async run({ driver, peer, ttl, newEnv, summary }) {
      const env = newEnv();
      const { cursor } = await peer.snapshot(env);
      const pending = peer.changes(env, cursor, { waitMs: 5_000 });
      await driver.register(registration(env, ttl, { id: "late" }));
      assert.deepEqual(summary(await pending), ["join registered late"]);
      const quiet = await peer.changes(env, (await peer.snapshot(env)).cursor, {
        waitMs: 0,
      });
      assert.deepEqual(quiet.changes, []);
    },
  },
  {
    name:
      "reading from a cursor whose changes were lost fails with ChangeLogGapError",
    async run({ driver, peer, ttl, newEnv, summary, harness }) {
      const env = newEnv();
      const { cursor } = await peer.snapshot(env);
      await driver.register(registration(env, ttl, { id: "a" }));
      await harness.trimChanges(env);
      await assert.rejects(
        peer.changes(env, cursor, { waitMs: 0 }),
        ChangeLogGapError,
      );
      const fresh = await peer.snapshot(env);
      assert.deepEqual(fresh.instances.map((i) => i.id), ["a"]);
      await driver.register(registration(env, ttl, { id: "b" }));
      const batch = await peer.changes(env, fresh.cursor, { waitMs: 0 });
      assert.deepEqual(summary(batch), ["join registered b"]);
    },
  },
  {
    name:
      "campaign grants the oldest live, healthy instance a term; others are refused",
    async run({ driver, peer, ttl, newEnv }) {
      const env = newEnv();
      const a = registration(env, ttl, { id: "a" });
      const b = registration(env, ttl, { id: "b" });
      const other = registration(env, ttl, { id: "o", service: "worker" });
      await driver.register(a);
      await driver.register(b);
      await driver.register(other);
      assert.equal(await peer.campaign(b), undefined, "b is not the oldest");
      const stranger = { ...a, owner: crypto.randomUUID() };
      assert.equal(await peer.campaign(stranger), undefined, "not a's owner");
      const term = await driver.campaign(a);
      assert.ok(term !== undefined && term > 0);
      // Leadership is per service.
      assert.ok((await peer.campaign(other) ?? 0) > 0);
    },
  },
  {
    name:
      "terms only rise, and none is granted while the last leader's lease runs",
    async run({ driver, peer, ttl, newEnv }) {
      const env = newEnv();
      const a = registration(env, ttl * 10, { id: "a" });
      const b = registration(env, ttl * 10, { id: "b" });
      await driver.register(a);
      await driver.register(b);
      const t1 = await driver.campaign(a) as number;
      // a turns unhealthy: its lease no longer counts, and b is the oldest
      // healthy instance.
      await driver.heartbeat({ ...a, status: "unhealthy" });
      const t2 = await peer.campaign(b);
      assert.ok(t2 !== undefined && t2 > t1, `${t2} > ${t1}`);
      // a is healthy and the oldest again, but b's lease still runs.
      await driver.heartbeat(a);
      assert.equal(await driver.campaign(a), undefined);
      // b resigns: a leads, with a higher term still.
      await peer.resign(b, t2 as number);
      const t3 = await driver.campaign(a);
      assert.ok(t3 !== undefined && t3 > (t2 as number));
      // Resigning a term no longer held changes nothing.
      await driver.resign(a, t1);
      assert.equal(await peer.campaign(b), undefined);
      // A re-campaign of the leader is a new term.
      const t4 = await driver.campaign(a);
      assert.ok(t4 !== undefined && t4 > (t3 as number));
    },
  },
  {
    name: "a leader's lease ends with its registration: it leaves or lapses",
    async run({ driver, peer, ttl, slack, newEnv, wait }) {
      const env = newEnv();
      const a = registration(env, ttl, { id: "a" });
      const b = registration(env, ttl * 10, { id: "b" });
      await driver.register(a);
      await driver.register(b);
      const t1 = await driver.campaign(a) as number;
      await wait(env, ttl + slack);
      await peer.heartbeat(b);
      const t2 = await peer.campaign(b);
      assert.ok(t2 !== undefined && t2 > t1);
      const c = registration(env, ttl * 10, { id: "c" });
      await driver.register(c);
      assert.equal(await driver.campaign(c), undefined);
      assert.equal(await peer.deregister(b), true);
      const t3 = await driver.campaign(c);
      assert.ok(t3 !== undefined && t3 > (t2 as number));
    },
  },
  {
    name: "seq only rises, and a status change keeps the registration",
    async run({ driver, peer, ttl, newEnv }) {
      const env = newEnv();
      const seqs: number[] = [];
      for (let i = 0; i < 5; i++) {
        const reg = registration(env, ttl, { id: `s${i}` });
        seqs.push((await driver.register(reg)).seq);
        if (i % 2 === 0) await driver.deregister(reg);
      }
      assert.deepEqual([...seqs].sort((x, y) => x - y), seqs);
      assert.equal(new Set(seqs).size, seqs.length);
      const reg = registration(env, ttl, { id: "flap" });
      const first = await driver.register(reg);
      const sick = await driver.heartbeat({ ...reg, status: "unhealthy" });
      assert.equal(sick.instance.seq, first.seq);
      assert.equal(sick.reregistered, false);
      const listed = (await peer.list({ env })).find((i) => i.id === "flap");
      assert.equal(listed?.status, "unhealthy");
      assert.equal(listed?.seq, first.seq);
    },
  },
  {
    name:
      "every status is stored, listed and logged; only healthy and warning instances may lead",
    async run({ driver, peer, ttl, newEnv }) {
      const env = newEnv();
      const { cursor } = await peer.snapshot(env);
      const statuses: InstanceStatus[] = [
        "warning",
        "unhealthy",
        "draining",
        "maintenance",
        "healthy",
      ];
      const reg = registration(env, ttl, { id: "s" });
      const first = await driver.register(reg);
      for (const status of statuses) {
        const beat = await driver.heartbeat({ ...reg, status });
        assert.equal(beat.instance.status, status);
        assert.equal(beat.instance.seq, first.seq);
        assert.equal((await peer.list({ env }))[0]?.status, status);
        assert.equal((await peer.snapshot(env)).instances[0]?.status, status);
      }
      const batch = await peer.changes(env, cursor, { waitMs: 0 });
      assert.deepEqual(
        batch.changes.filter((c) => c.type === "update").map((c) =>
          c.instance.status
        ),
        statuses,
      );
      // An older instance that takes no work does not stand in the way of a
      // younger one; an older one in `warning` does.
      for (const status of ["draining", "maintenance", "unhealthy"] as const) {
        const e = newEnv();
        const old = registration(e, ttl, { id: "old", status });
        await driver.register(old);
        const young = registration(e, ttl, { id: "young" });
        await driver.register(young);
        assert.equal(await driver.campaign(old), undefined, status);
        const term = await driver.campaign(young);
        assert.ok(term !== undefined, `granted past a ${status} elder`);
        await driver.resign(young, term);
      }
      const e = newEnv();
      const old = registration(e, ttl, { id: "old", status: "warning" });
      await driver.register(old);
      const young = registration(e, ttl, { id: "young" });
      await driver.register(young);
      assert.equal(await driver.campaign(young), undefined);
      const term = await driver.campaign(old);
      assert.ok(term !== undefined, "an instance in warning may lead");
      // Draining ends its lease: the next may be granted at once.
      await driver.heartbeat({ ...old, status: "draining" });
      assert.ok(await driver.campaign(young) !== undefined);
    },
  },
  {
    name: "a driver records only its own change reasons, never resync",
    async run(
      { driver, peer, ttl, slack, newEnv, wait, purgeUntil, summary, harness },
    ) {
      const env = newEnv();
      const { cursor } = await peer.snapshot(env);
      const a = registration(env, ttl, { id: "a" });
      await driver.register(a);
      await driver.heartbeat({ ...a, status: "unhealthy" });
      await driver.deregister(a);
      const b = registration(env, ttl, { id: "b" });
      await driver.register(b);
      await wait(env, ttl + slack);
      await purgeUntil(env, async () => await harness.stored(env) === 0);
      const batch = await peer.changes(env, cursor, { waitMs: 0 });
      const allowed: Record<string, string[]> = {
        join: ["registered", "reregistered"],
        update: ["health"],
        leave: ["deregistered", "expired"],
      };
      for (const change of batch.changes) {
        assert.ok(
          allowed[change.type]?.includes(change.reason),
          `${change.type} ${change.reason}`,
        );
      }
      assert.deepEqual(summary(batch), [
        "join registered a",
        "update health a",
        "leave deregistered a",
        "join registered b",
        "leave expired b",
      ]);
    },
  },
  {
    name: "messages reach the subscribers of their channel only",
    // Messaging is optional: a backend without pub/sub leaves it out.
    applies: ({ driver, peer }) =>
      driver.publish !== undefined && peer.subscribe !== undefined,
    async run({ driver, peer, newEnv }) {
      const subscribe = peer.subscribe!.bind(peer);
      const publish = driver.publish!.bind(driver);
      const env = newEnv();
      const got: string[] = [];
      const other: string[] = [];
      const unsubscribe = await subscribe(
        env,
        "service:api",
        (m) => got.push(m),
      );
      const unsubscribeOther = await subscribe(
        env,
        "service:worker",
        (m) => other.push(m),
      );
      const elsewhere: string[] = [];
      const unsubscribeElsewhere = await subscribe(
        newEnv(),
        "service:api",
        (m) => elsewhere.push(m),
      );
      // The count is what the receiving node knows of; on Cluster that can be 0.
      await publish(env, "service:api", "héllo ✓");
      await until(() => got.length === 1);
      assert.deepEqual(got, ["héllo ✓"]);
      await unsubscribe();
      await publish(env, "service:api", "after");
      await publish(env, "service:worker", "to worker");
      await until(() => other.length === 1);
      assert.deepEqual(got, ["héllo ✓"]);
      assert.deepEqual(other, ["to worker"]);
      assert.deepEqual(elsewhere, []);
      await unsubscribeOther();
      await unsubscribeElsewhere();
    },
  },
];

/** Waits (for real, briefly) until `condition` holds; messages arrive asynchronously. */
async function until(condition: () => boolean, limitMs = 5_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error("timed out waiting for a message");
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
