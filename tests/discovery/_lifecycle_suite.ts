/**
 * Drain, maintenance and the eviction safety valve, seen from another
 * process, tested the same way on every engine.
 */

import assert from "node:assert/strict";
import { registration } from "../_registration.ts";
import {
  type Driver,
  type ProtectionChange,
  type Registry,
  RoundRobinPicker,
  WeightedPicker,
} from "../../mod.ts";
import {
  collect,
  eventually,
  registryFactory,
  sleep,
} from "./_discovery_suite.ts";

/** What the suite needs of an engine. */
export interface LifecycleBackend {
  /** A new driver on the shared backend; the suite closes what it gets. */
  driver(): Promise<Driver>;
  /** The ttl to register with, in ms: a few hundred, more where expiry is coarse. */
  ttl: number;
}

/**
 * Runs the steps.
 *
 * @param t The test context.
 * @param backend The engine.
 */
export async function testLifecycle(
  t: Deno.TestContext,
  backend: LifecycleBackend,
): Promise<void> {
  const TTL = backend.ttl;
  const INTERVAL = Math.floor(TTL / 4);
  // How long past a ttl an expiry may take to be seen.
  const SLACK = 2_000 + TTL;
  const { driver, member, observer, close } = registryFactory(
    backend.driver,
    TTL,
    INTERVAL,
  );
  const newEnv = () => `l${crypto.randomUUID().slice(0, 8)}`;

  try {
    await t.step(
      "drain: another process sees the instance draining, then a clean leave; its pickers skip it, its leader hands over",
      async () => {
        const env = newEnv();
        const a = await member(env, "a");
        await member(env, "b");
        const watcher = await observer(env, { cache: true });
        const controller = new AbortController();
        const seen = collect(
          watcher.watch("api", { signal: controller.signal }),
        );
        await watcher.waitFor("api", { min: 2 });
        const leadership = await a.standby();
        await a.drain({ linger: TTL, stop: false });
        assert.ok(leadership.signal.aborted, "a draining leader resigns");
        assert.match(String(leadership.signal.reason), /draining/);
        const picker = new RoundRobinPicker();
        const weighted = new WeightedPicker();
        for (let i = 0; i < 3; i++) {
          assert.equal((await watcher.pick("api", picker))?.id, "b");
          assert.equal(
            weighted.pick(await watcher.allInstances("api"))?.id,
            "b",
          );
        }
        assert.deepEqual(
          (await watcher.allInstances("api")).map((i) => [i.id, i.status]),
          [["a", "draining"], ["b", "healthy"]],
        );
        await eventually(
          "b leads",
          async () => (await watcher.leader("api"))?.id === "b",
        );
        await a.stop();
        await eventually(
          "the leave",
          () => seen.lines().includes("leave deregistered a"),
        );
        controller.abort();
        await seen.done;
        assert.deepEqual(
          seen.events.filter((e) => e.instance.id === "a").map((e) =>
            `${e.type} ${e.reason} ${e.instance.status}`
          ),
          ["update health draining", "leave deregistered draining"],
        );
      },
    );

    await t.step(
      "maintenance: listed as such while on, back to its health when turned off",
      async () => {
        const env = newEnv();
        const a = await member(env, "a");
        const watcher = await observer(env);
        await a.setMaintenance(true, { ttl: "1h" });
        assert.deepEqual(
          (await watcher.allInstances("api")).map((i) => i.status),
          ["maintenance"],
        );
        assert.deepEqual(await watcher.instances("api"), []);
        a.setStatus("warning");
        await a.setMaintenance(false);
        assert.deepEqual(
          (await watcher.instances("api")).map((i) => i.status),
          ["warning"],
        );
      },
    );

    /** Registers instances that never beat: a fleet that crashes at once. */
    const fleet = async (env: string, ids: string[], service = "api") => {
      const raw = await driver();
      const registrations = ids.map((id) =>
        registration({
          id,
          env,
          service,
          ttl: TTL,
          heartbeatInterval: INTERVAL,
        })
      );
      for (const r of registrations) await raw.register(r);
      return { raw, registrations };
    };
    const protections = (registry: Registry) => {
      const changes: ProtectionChange[] = [];
      registry.on("protection", (change) => changes.push(change));
      return changes;
    };

    await t.step(
      "eviction protection: when most of a service expires within a ttl, the rest is held, listed, and comes back without a leave when it beats again",
      async () => {
        const env = newEnv();
        const watcher = await observer(env);
        const changes = protections(watcher);
        const controller = new AbortController();
        const seen = collect(
          watcher.watch("api", { signal: controller.signal }),
        );
        await watcher.leader("api"); // the view is live
        const { raw, registrations } = await fleet(env, [
          "a",
          "b",
          "c",
          "d",
          "e",
        ]);
        // One beat each, a while after registering, then the crash.
        await sleep(INTERVAL);
        const beatAt = Date.now();
        for (const r of registrations) await raw.heartbeat(r);
        await eventually("protection", () => changes.length > 0, TTL + SLACK);
        assert.equal(changes[0]?.on, true);
        await sleep(TTL); // every expiry has come by now
        const left = seen.events.filter((e) => e.type === "leave");
        // Two of five expire (not more than half); the rest is held.
        assert.deepEqual(left.map((e) => e.reason), ["expired", "expired"]);
        const held = ["a", "b", "c", "d", "e"].filter((id) =>
          !left.some((e) => e.instance.id === id)
        );
        // Listed by the view and by a direct listing of the same registry.
        const listed = await watcher.instances("api");
        assert.deepEqual(listed.map((i) => i.id).sort(), held);
        // Each shows its last beat, not its registration, where the
        // backend records beats.
        if (!raw.limitations?.beatTimesUnrecorded) {
          for (const instance of listed) {
            assert.ok(
              instance.heartbeatAt >= beatAt - 50 &&
                instance.heartbeatAt > instance.registeredAt,
              `${instance.id}: last beat ${instance.heartbeatAt}, beat sent ${beatAt}, registered ${instance.registeredAt}`,
            );
          }
        }
        assert.deepEqual(
          (await watcher.waitFor("api", { min: 3, timeout: 1 })).map((i) =>
            i.id
          ).sort(),
          held,
        );
        // They beat again: each registers anew, and protection ends.
        for (const r of registrations.filter((r) => held.includes(r.id))) {
          assert.equal((await raw.heartbeat(r)).reregistered, true);
        }
        await eventually("protection off", () => changes.length === 2);
        assert.deepEqual(
          { on: changes[1]?.on, reason: changes[1]?.reason },
          { on: false, reason: "beats resumed" },
        );
        controller.abort();
        await seen.done;
        assert.deepEqual(
          seen.events.filter((e) => held.includes(e.instance.id)).map((e) =>
            `${e.type} ${e.reason}`
          ),
          [
            ...held.map(() => "join registered"),
            ...held.map(() => "update reregistered"),
          ],
          "no leave for a held instance",
        );
        for (const r of registrations) await raw.deregister(r);
      },
    );

    await t.step(
      "eviction protection ends at its bound: the held expire and are reported, and a cold observer sees the dead fleet gone",
      async () => {
        const env = newEnv();
        const watcher = await observer(env, { protection: { maxTtls: 2 } });
        const changes = protections(watcher);
        const controller = new AbortController();
        const seen = collect(
          watcher.watch("api", { signal: controller.signal }),
        );
        await watcher.leader("api");
        await fleet(env, ["a", "b", "c", "d"]);
        await eventually("protection", () => changes.length > 0, TTL + SLACK);
        const until = changes[0]!.until!;
        assert.ok(until > Date.now());
        await eventually(
          "protection off",
          () => changes.length === 2,
          2 * TTL + SLACK,
        );
        assert.ok(Date.now() >= until, "not before its bound");
        assert.equal(changes[1]?.reason, "bound passed");
        const released = changes[1]!.held.map((i) => i.id).sort();
        assert.equal(released.length, 2, "more than half of four: two held");
        controller.abort();
        await seen.done;
        assert.deepEqual(
          seen.lines().filter((l) => l.startsWith("leave")).length,
          4,
          "every expiry reported in the end",
        );
        assert.deepEqual(
          seen.events.filter((e) => released.includes(e.instance.id)).map((
            e,
          ) => `${e.type} ${e.reason}`),
          [
            "join registered",
            "join registered",
            "leave expired",
            "leave expired",
          ],
        );
        assert.deepEqual(await watcher.instances("api"), []);
        const cold = await observer(env);
        assert.deepEqual(await cold.allInstances("api"), []);
      },
    );

    await t.step(
      "eviction protection stays off for a single crash, a service smaller than three, and a registry that turned it off",
      async () => {
        const env = newEnv();
        const watcher = await observer(env);
        const off = await observer(env, { protection: false });
        const changesOn = protections(watcher);
        const changesOff = protections(off);
        const controller = new AbortController();
        const { signal } = controller;
        const on = collect(watcher.watch(undefined, { signal }));
        const without = collect(off.watch("api", { signal }));
        await watcher.leader("api");
        await off.leader("api");
        await member(env, "live-1");
        await member(env, "live-2");
        await fleet(env, ["lone"]);
        await fleet(env, ["s1", "s2"], "small");
        await eventually(
          "every expiry",
          () =>
            on.lines().filter((l) => l.startsWith("leave expired")).length ===
              3,
          TTL + SLACK,
        );
        assert.deepEqual(changesOn, [], "one of three, and two of two");
        await fleet(env, ["x1", "x2", "x3", "x4"]);
        await eventually(
          "the fleet's expiries, unheld",
          () =>
            without.lines().filter((l) => l.startsWith("leave expired"))
              .length === 5,
          TTL + SLACK,
        );
        assert.deepEqual(changesOff, [], "never with protection: false");
        controller.abort();
        await on.done;
        await without.done;
      },
    );
  } finally {
    await close();
  }
}
