/**
 * The discovery capabilities, tested the same way on every driver: the
 * memory driver in one process, and Redis for real.
 */

import assert from "node:assert/strict";
import { registration } from "../_registration.ts";
import {
  type Driver,
  type Instance,
  MessageTooLargeError,
  RandomPicker,
  Registry,
  type RegistryOptions,
  RegistryStateError,
  RoundRobinPicker,
  WaitForTimeoutError,
  type WatchEvent,
} from "../../mod.ts";

export interface DiscoveryBackend {
  /** A driver on the shared backend; the suite closes what it gets. */
  driver(): Promise<Driver>;
  /** Drops the env's recorded changes, as a trimmed log would. */
  trimChanges(env: string): Promise<void>;
  /** The registrations' ttl and interval, where the backend needs longer ones (etcd's leases are whole seconds). */
  timing?: { ttl: number; interval: number };
}

/** A driver that forwards to `inner`, with some methods replaced. */
function wrap(inner: Driver, overrides: Partial<Driver>): Driver {
  return {
    name: inner.name,
    register: (r) => inner.register(r),
    heartbeat: (r) => inner.heartbeat(r),
    deregister: (k) => inner.deregister(k),
    list: (q) => inner.list(q),
    services: (e) => inner.services(e),
    purge: (e) => inner.purge(e),
    campaign: (r) => inner.campaign(r),
    resign: (r, t) => inner.resign(r, t),
    snapshot: (e) => inner.snapshot(e),
    changes: (e, c, o) => inner.changes(e, c, o),
    publish: (e, c, p) => inner.publish!(e, c, p),
    subscribe: (e, c, h) => inner.subscribe!(e, c, h),
    close: () => Promise.resolve(),
    ...overrides,
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function eventually<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  limitMs = 5_000,
): Promise<T> {
  const deadline = Date.now() + limitMs;
  while (true) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) {
      throw new Error(`${what}: not within ${limitMs}ms`);
    }
    await sleep(10);
  }
}

/** Collects a watch's events in the background. */
export function collect(stream: AsyncIterable<WatchEvent>): {
  events: WatchEvent[];
  lines(): string[];
  done: Promise<void>;
} {
  const events: WatchEvent[] = [];
  const done = (async () => {
    for await (const event of stream) events.push(event);
  })();
  // A watch that fails before the test awaits `done` is the test's to
  // report when it does, not an uncaught error that fails the whole file.
  done.catch(() => {});
  return {
    events,
    lines: () => events.map((e) => `${e.type} ${e.reason} ${e.instance.id}`),
    done,
  };
}

/**
 * Makes drivers and registries on one backend for a suite, and closes them
 * all at the end.
 *
 * @param connect Makes a driver on the backend.
 * @param ttl The registrations' ttl, in ms.
 * @param interval Their heartbeat interval, in ms.
 * @returns The factory.
 */
export function registryFactory(
  connect: () => Promise<Driver>,
  ttl: number,
  interval: number,
) {
  const drivers: Driver[] = [];
  const registries: Registry[] = [];
  const driver = async () => {
    const made = await connect();
    drivers.push(made);
    return made;
  };
  const make = async (env: string, options: RegistryOptions) => {
    const registry = new Registry({
      driver: await driver(),
      env,
      ttl,
      heartbeatInterval: interval,
      ...options,
    });
    registries.push(registry);
    return registry;
  };
  return {
    driver,
    /** A registered instance of `api`, started. */
    member: async (env: string, id: string, options: RegistryOptions = {}) => {
      const registry = await make(env, { id, service: "api", ...options });
      await registry.start();
      return registry;
    },
    /** A registry that only discovers. */
    observer: (env: string, options: RegistryOptions = {}) =>
      make(env, options),
    /** Stops `registry` with the rest. */
    track: (registry: Registry) => void registries.push(registry),
    async close() {
      for (const registry of registries) await registry.stop();
      for (const made of drivers) await made.close();
    },
  };
}

export async function testDiscovery(
  t: Deno.TestContext,
  backend: DiscoveryBackend,
): Promise<void> {
  const TTL = backend.timing?.ttl ?? 400;
  const INTERVAL = backend.timing?.interval ?? 100;
  const { driver, member, observer, track, close } = registryFactory(
    backend.driver,
    TTL,
    INTERVAL,
  );
  const newEnv = () => `d${crypto.randomUUID().slice(0, 8)}`;

  try {
    await t.step(
      "watch reports join, deregistration and expiry, each once, with its reason",
      async () => {
        const env = newEnv();
        const watcher = await observer(env);
        const controller = new AbortController();
        const seen = collect(
          watcher.watch("api", { signal: controller.signal }),
        );
        await watcher.leader("api"); // the view is live
        const a = await member(env, "a");
        // A process that crashes: registered, then never heard from again.
        const crashed = await driver();
        await crashed.register(registration({ id: "crashed", env, ttl: TTL }));
        await member(env, "w", { service: "worker" });
        await a.stop();
        const crashedAt = Date.now();
        await eventually(
          "the expiry",
          () => seen.lines().includes("leave expired crashed"),
          TTL + 1_000,
        );
        assert.ok(Date.now() - crashedAt <= TTL + 1_000);
        controller.abort();
        await seen.done;
        assert.deepEqual(seen.lines(), [
          "join registered a",
          "join registered crashed",
          "leave deregistered a",
          "leave expired crashed",
        ]);
      },
    );

    await t.step(
      "watch with current starts from the live instances",
      async () => {
        const env = newEnv();
        await member(env, "a");
        await member(env, "b");
        const watcher = await observer(env);
        const controller = new AbortController();
        const seen = collect(
          watcher.watch(undefined, {
            current: true,
            signal: controller.signal,
          }),
        );
        await eventually("current", () => seen.events.length === 2);
        await member(env, "c");
        await eventually("the join", () => seen.events.length === 3);
        controller.abort();
        await seen.done;
        assert.deepEqual(seen.lines(), [
          "join current a",
          "join current b",
          "join registered c",
        ]);
      },
    );

    await t.step(
      "a watcher that lost changes catches up by comparison, reporting each change once",
      async () => {
        const env = newEnv();
        const a = await member(env, "a");
        await member(env, "b");
        // The watcher's reads can be held at a gate, so that changes happen
        // and are trimmed away before it reads them.
        const inner = await driver();
        let open = true;
        let atGate = false;
        let release: (() => void) | undefined;
        const gated = wrap(inner, {
          changes: async (e, c, o) => {
            while (!open) {
              atGate = true;
              await new Promise<void>((resolve) => release = resolve);
            }
            atGate = false;
            return await inner.changes(e, c, o);
          },
        });
        const watcher = new Registry({
          driver: gated,
          env,
          ttl: TTL,
          heartbeatInterval: INTERVAL,
        });
        track(watcher);
        const controller = new AbortController();
        const seen = collect(
          watcher.watch("api", { current: true, signal: controller.signal }),
        );
        await eventually("current", () => seen.events.length === 2);
        open = false;
        await eventually("the watcher waits at the gate", () => atGate, 5_000);
        await a.stop();
        await member(env, "c");
        await backend.trimChanges(env);
        open = true;
        release?.();
        await eventually("caught up", () => seen.events.length === 4);
        await member(env, "d");
        await eventually("the next join", () => seen.events.length === 5);
        await sleep(INTERVAL * 3);
        controller.abort();
        await seen.done;
        assert.deepEqual(seen.lines(), [
          "join current a",
          "join current b",
          "leave resync a",
          "join resync c",
          "join registered d",
        ]);
      },
    );

    await t.step(
      "the cached view answers without a round trip and follows changes",
      async () => {
        const env = newEnv();
        const backendDriver = await driver();
        let lists = 0;
        const counting = wrap(backendDriver, {
          list: (query) => {
            lists++;
            return backendDriver.list(query);
          },
        });
        const cached = new Registry({
          driver: counting,
          env,
          cache: true,
          ttl: TTL,
          heartbeatInterval: INTERVAL,
        });
        track(cached);
        const a = await member(env, "a");
        await member(env, "b");
        await eventually(
          "both cached",
          async () => (await cached.instances("api")).length === 2,
        );
        await a.stop();
        await eventually(
          "a gone",
          async () =>
            (await cached.instances("api")).map((i) => i.id).join() === "b",
        );
        assert.equal(lists, 0, "instances() never listed from the backend");
        assert.equal(cached.viewState, "live");
      },
    );

    await t.step(
      "leadership moves to the next oldest when the leader stops",
      async () => {
        const env = newEnv();
        const first = await member(env, "first");
        const second = await member(env, "second");
        const watcher = await observer(env);
        const controller = new AbortController();
        const leaders: (string | undefined)[] = [];
        const stream = (async () => {
          for await (
            const change of watcher.leaderChanges("api", {
              signal: controller.signal,
            })
          ) {
            leaders.push(change.leader?.id);
          }
        })();
        const lead = await first.standby();
        assert.ok(lead.term > 0);
        let secondLead: Promise<unknown> | undefined;
        secondLead = second.standby();
        let secondWon = false;
        secondLead.then(() => secondWon = true);
        await sleep(INTERVAL * 2);
        assert.equal(secondWon, false, "only one leader");
        await first.stop();
        assert.equal(lead.signal.aborted, true);
        const next = await secondLead as { term: number };
        assert.ok(next.term > lead.term, "terms rise");
        await eventually(
          "the stream saw it",
          () => leaders.at(-1) === "second",
        );
        controller.abort();
        await stream;
        assert.deepEqual(leaders, ["first", "second"]);
        secondLead = undefined;
      },
    );

    await t.step(
      "waitFor resolves once enough are live, and times out cleanly",
      async () => {
        const env = newEnv();
        const waiter = await observer(env);
        const waiting = waiter.waitFor("api", { min: 2, timeout: 5_000 });
        await member(env, "a");
        await member(env, "b", { meta: { zone: "eu" } });
        const live = await waiting;
        assert.deepEqual(live.map((i) => i.id), ["a", "b"]);
        const started = Date.now();
        await assert.rejects(
          waiter.waitFor("api", {
            min: 2,
            timeout: 200,
            filter: { meta: { zone: "eu" } },
          }),
          (error: unknown) => {
            assert.ok(error instanceof WaitForTimeoutError);
            assert.equal(error.live, 1);
            assert.match(
              error.message,
              /Timed out after 200ms waiting for 2 live instances of 'api' \(1 live\)/,
            );
            return true;
          },
        );
        assert.ok(Date.now() - started < 2_000);
        const controller = new AbortController();
        const aborted = waiter.waitFor("none", { signal: controller.signal });
        controller.abort(new Error("no longer needed"));
        await assert.rejects(aborted, /no longer needed/);
      },
    );

    await t.step(
      "select filters by meta, version and self; pickers survive a shrinking set",
      async () => {
        const env = newEnv();
        const me = await member(env, "me", {
          version: "2.0.0",
          meta: { zone: "eu", tier: "gold" },
          cache: true,
        });
        await member(env, "b", {
          version: "2.0.0",
          meta: { zone: "eu", tier: "gold" },
        });
        const c = await member(env, "c", {
          version: "1.0.0",
          meta: { zone: "eu", tier: "gold" },
        });
        await member(env, "d", {
          version: "2.0.0",
          meta: { zone: "us", tier: "gold" },
        });
        await eventually(
          "all cached",
          async () => (await me.instances("api")).length === 4,
        );
        const ids = (list: Instance[]) => list.map((i) => i.id);
        // Oldest first, as listed: on a loaded machine an instance may have
        // registered again (a new seq) after a stall past the short ttl.
        const listed = ids(await me.instances("api"));
        const inOrder = (wanted: string[]) =>
          listed.filter((id) => wanted.includes(id));
        assert.deepEqual(
          ids(await me.select("api", { meta: { zone: "eu", tier: "gold" } })),
          inOrder(["me", "b", "c"]),
        );
        assert.deepEqual(
          ids(await me.select("api", { version: "2.0.0", excludeSelf: true })),
          inOrder(["b", "d"]),
        );
        const picker = new RoundRobinPicker();
        const picks: (string | undefined)[] = [];
        picks.push((await me.pick("api", picker, { excludeSelf: true }))?.id);
        picks.push((await me.pick("api", picker, { excludeSelf: true }))?.id);
        await c.stop();
        await eventually(
          "c gone",
          async () => (await me.instances("api")).length === 3,
        );
        picks.push((await me.pick("api", picker, { excludeSelf: true }))?.id);
        picks.push((await me.pick("api", picker, { excludeSelf: true }))?.id);
        // Round robin: two different instances, then, once c left, two
        // different ones of those that remain.
        assert.equal(new Set(picks.slice(0, 2)).size, 2);
        assert.ok(
          picks.slice(0, 2).every((id) => ["b", "c", "d"].includes(id!)),
        );
        assert.equal(new Set(picks.slice(2)).size, 2);
        assert.ok(picks.slice(2).every((id) => ["b", "d"].includes(id!)));
        const random = new RandomPicker();
        for (let i = 0; i < 20; i++) {
          assert.ok(
            ["b", "d"].includes(
              (await me.pick("api", random, { excludeSelf: true }))?.id ?? "",
            ),
          );
        }
      },
    );

    await t.step(
      "quorum tells whether a majority is live, and streams changes",
      async () => {
        const env = newEnv();
        const watcher = await observer(env);
        assert.equal((await watcher.quorum("db", 3)).reached, false);
        const controller = new AbortController();
        const states: string[] = [];
        const stream = (async () => {
          for await (
            const state of watcher.quorumChanges("db", 3, {
              signal: controller.signal,
            })
          ) {
            states.push(`${state.live}/${state.needed} ${state.reached}`);
          }
        })();
        const a = await member(env, "db-a", { service: "db" });
        await member(env, "db-b", { service: "db" });
        await eventually("quorum", () => states.at(-1) === "2/2 true");
        await a.stop();
        await eventually("lost", () => states.at(-1) === "1/2 false");
        controller.abort();
        await stream;
        // Changes that land together may come as one step; none repeats.
        assert.equal(states[0], "0/2 false");
        assert.ok(states.includes("2/2 true"));
        assert.equal(states.at(-1), "1/2 false");
        assert.ok(states.every((state, i) => state !== states[i - 1]));
      },
    );

    const probe = await backend.driver();
    const messaging = probe.publish !== undefined;
    await probe.close();
    if (!messaging) {
      await t.step(
        "without pub/sub, sending and receiving messages fail naming the driver",
        async () => {
          const env = newEnv();
          const a = await member(env, "a");
          const sender = await observer(env);
          await assert.rejects(
            sender.broadcast("api", { reload: true }),
            RegistryStateError,
          );
          await assert.rejects(
            a.onMessage(() => {}),
            new RegExp(`the ${probe.name} driver has no pub/sub`),
          );
        },
      );
      return;
    }

    await t.step("messages reach exactly the intended instances", async () => {
      const env = newEnv();
      const a = await member(env, "a");
      const b = await member(env, "b");
      const w = await member(env, "w", { service: "worker" });
      const inbox = new Map<string, string[]>();
      for (const registry of [a, b, w]) {
        const box: string[] = [];
        inbox.set(registry.id as string, box);
        await registry.onMessage((m) =>
          box.push(`${m.kind} from ${m.from}: ${JSON.stringify(m.data)}`)
        );
      }
      const sender = await observer(env);
      await sender.broadcast("api", { reload: true });
      await w.send("b", "just you");
      await eventually(
        "delivered",
        () => inbox.get("b")?.length === 2 && inbox.get("a")?.length === 1,
      );
      await sleep(50);
      assert.deepEqual(inbox.get("a"), [
        'broadcast from undefined: {"reload":true}',
      ]);
      // Two channels, two senders: no order between them is promised (on a
      // Redis Cluster each channel's messages cross the cluster bus apart).
      assert.deepEqual([...inbox.get("b") ?? []].sort(), [
        'broadcast from undefined: {"reload":true}',
        'direct from w: "just you"',
      ]);
      assert.deepEqual(inbox.get("w"), []);
      await assert.rejects(
        sender.broadcast("api", "x".repeat(70_000)),
        MessageTooLargeError,
      );
      await assert.rejects(sender.send("a", { n: 1n }), /not JSON/);

      const controller = new AbortController();
      const received: unknown[] = [];
      const stream = (async () => {
        for await (const message of a.messages({ signal: controller.signal })) {
          received.push(message.data);
          controller.abort();
        }
      })();
      await sleep(50);
      await sender.send("a", 42);
      await stream;
      assert.deepEqual(received, [42]);
    });
  } finally {
    await close();
  }
}
