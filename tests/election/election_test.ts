/**
 * Elections through registries, on every engine of `tests/_engines.ts`
 * (one driver, so one connection, per registry, as separate processes
 * have): terms only rise across health flaps and data loss, at most one
 * leader at any instant (checked on a history of grants and aborts), a
 * clean hand-over on stop(), and a lease that the clock, not a timer,
 * decides.
 */

import assert from "node:assert/strict";
import {
  type Clock,
  type Driver,
  type Leadership,
  LeadershipLostError,
  Registry,
  type RegistryOptions,
  systemClock,
} from "../../mod.ts";
import { MemoryDriver } from "../../testing/mod.ts";
import { eventually, sleep } from "../discovery/_discovery_suite.ts";
import { ENGINES, engineTest } from "../_engines.ts";

const OPTIONS = { service: "cron", heartbeatInterval: 50, ttl: 300 } as const;

interface Term {
  id: string;
  term: number;
  grantedAt: number;
  endedAt?: number;
}

/** Keeps a registry standing by, and records every term it held. */
function standby(registry: Registry, history: Term[]) {
  const stop = new AbortController();
  const done = (async () => {
    while (!stop.signal.aborted && registry.state === "running") {
      let leadership: Leadership;
      try {
        leadership = await registry.standby({ signal: stop.signal });
      } catch {
        return;
      }
      const entry: Term = {
        id: registry.id as string,
        term: leadership.term,
        grantedAt: performance.now(),
      };
      history.push(entry);
      await new Promise<void>((resolve) => {
        if (leadership.signal.aborted || stop.signal.aborted) resolve();
        leadership.signal.addEventListener("abort", () => resolve(), {
          once: true,
        });
        stop.signal.addEventListener("abort", () => resolve(), { once: true });
      });
      entry.endedAt = performance.now();
    }
  })();
  return {
    async [Symbol.asyncDispose]() {
      stop.abort();
      await done;
    },
  };
}

function assertOneLeaderAtATime(history: Term[]): void {
  const ordered = [...history].sort((a, b) => a.grantedAt - b.grantedAt);
  for (let i = 1; i < ordered.length; i++) {
    const before = ordered[i - 1] as Term;
    const after = ordered[i] as Term;
    assert.ok(
      before.endedAt !== undefined && before.endedAt <= after.grantedAt,
      `${before.id} (term ${before.term}) still led when ${after.id} (term ${after.term}) was granted`,
    );
    assert.ok(after.term > before.term, "terms only rise");
  }
}

interface ElectionBackend {
  /** A driver on the shared backend; the caller closes it. */
  driver(): Promise<Driver>;
  /** Loses every key, as a restart without persistence does. */
  loseData?(): Promise<void>;
  /** The registrations' ttl and interval, where the backend needs longer ones (etcd's leases are whole seconds). */
  timing?: { ttl: number; heartbeatInterval: number };
}

/** Registries with their own drivers, all closed on dispose. */
async function fleet(
  backend: ElectionBackend,
  ids: string[],
  options: Partial<RegistryOptions> = {},
) {
  const drivers: Driver[] = [];
  const registries: Registry[] = [];
  for (const id of ids) {
    const driver = await backend.driver();
    drivers.push(driver);
    registries.push(
      new Registry({ ...OPTIONS, ...backend.timing, ...options, driver, id }),
    );
  }
  return {
    registries,
    async [Symbol.asyncDispose]() {
      for (const registry of registries) await registry.stop();
      for (const driver of drivers) await driver.close();
    },
  };
}

async function testElection(t: Deno.TestContext, backend: ElectionBackend) {
  const interval = backend.timing?.heartbeatInterval ??
    OPTIONS.heartbeatInterval;
  await t.step(
    "a health flap moves leadership and back, each time under a higher term",
    async () => {
      await using group = await fleet(backend, ["a", "b"]);
      const [a, b] = group.registries as [Registry, Registry];
      await a.start();
      await b.start();
      const history: Term[] = [];
      await using _a = standby(a, history);
      await using _b = standby(b, history);
      await eventually("a leads", () => history.length === 1);
      a.setStatus("unhealthy");
      await eventually("b leads", () => history.at(-1)?.id === "b");
      a.setStatus("healthy");
      await eventually(
        "a leads again",
        () => history.length === 3 && history.at(-1)?.id === "a",
      );
      assert.deepEqual(history.map((t) => t.id), ["a", "b", "a"]);
      const terms = history.map((t) => t.term);
      assert.ok(terms[0]! < terms[1]! && terms[1]! < terms[2]!, `${terms}`);
      await a.stop();
      await eventually(
        "b leads after a stops",
        () => history.at(-1)?.id === "b",
      );
      assertOneLeaderAtATime(history);
    },
  );

  await t.step(
    "three standbys through flaps and stops: at most one leader at any instant",
    async () => {
      await using group = await fleet(backend, ["a", "b", "c"]);
      const registries = group.registries;
      for (const registry of registries) await registry.start();
      const history: Term[] = [];
      const loops = registries.map((registry) => standby(registry, history));
      try {
        for (let round = 0; round < 4; round++) {
          await eventually(
            "someone leads",
            () => history.some((t) => t.endedAt === undefined),
          );
          const leading = history.find((t) => t.endedAt === undefined)?.id;
          const current = registries.find((r) => r.id === leading);
          current?.setStatus("unhealthy");
          await sleep(interval * 3);
          current?.setStatus("healthy");
          await sleep(interval * 3);
        }
        await (registries[0] as Registry).stop();
        await sleep(interval * 4);
        assert.ok(history.length >= 5, `${history.length} terms`);
        assertOneLeaderAtATime(history);
      } finally {
        for (const loop of loops) await loop[Symbol.asyncDispose]();
      }
    },
  );

  await t.step(
    "stop() ends leadership before the registration is released, and the standby takes over",
    async () => {
      await using group = await fleet(backend, ["a", "b"]);
      const [a, b] = group.registries as [Registry, Registry];
      await a.start();
      await b.start();
      const leadership = await a.standby();
      let abortedWhileRegistered: boolean | undefined;
      leadership.signal.addEventListener("abort", () => {
        abortedWhileRegistered = a.state === "running" ||
          a.state === "stopping";
      });
      const next = b.standby();
      await a.stop();
      assert.equal(abortedWhileRegistered, true);
      const taken = await next;
      assert.ok(taken.term > leadership.term);
      assert.equal(leadership.valid(), false);
    },
  );

  await t.step(
    "an unhealthy instance never campaigns, and one that turns unhealthy stops leading before it says so",
    async () => {
      await using unhealthy = await fleet(backend, ["a"], {
        status: "unhealthy",
      });
      await using group = await fleet(backend, ["b"]);
      const a = unhealthy.registries[0] as Registry;
      const b = group.registries[0] as Registry;
      await a.start();
      await b.start();
      const leadership = await b.standby();
      assert.equal(a.instance()?.status, "unhealthy");
      let statusWhenAborted: string | undefined;
      leadership.signal.addEventListener("abort", () => {
        statusWhenAborted = b.status;
      });
      b.setStatus("unhealthy");
      assert.equal(leadership.signal.aborted, true);
      assert.equal(
        statusWhenAborted,
        "healthy",
        "aborted before the new status",
      );
    },
  );

  const loseData = backend.loseData;
  if (loseData) {
    await t.step(
      "after the backend lost every key, the next term is still higher",
      async () => {
        await using group = await fleet(backend, ["a", "b"]);
        const [a, b] = group.registries as [Registry, Registry];
        await a.start();
        await b.start();
        const history: Term[] = [];
        await using _a = standby(a, history);
        await using _b = standby(b, history);
        await eventually("a leads", () => history.length === 1);
        await loseData();
        // Both re-register from their beats; a stays the oldest.
        await sleep(interval * 3);
        await a.stop();
        await eventually("b leads", () => history.at(-1)?.id === "b");
        const terms = history.map((t) => t.term);
        assert.ok(
          terms.every((term, i) => i === 0 || term > terms[i - 1]!),
          `${terms}`,
        );
        assertOneLeaderAtATime(history);
      },
    );
  }
}

Deno.test("valid() answers from the clock right now: a process paused past its lease knows before any timer runs", async () => {
  let skew = 0;
  const clock: Clock = {
    ...systemClock,
    now: () => Date.now() + skew,
    monotonic: () => performance.now() + skew,
  };
  const driver = new MemoryDriver();
  await using a = new Registry({ ...OPTIONS, driver, id: "a", clock });
  await a.start();
  const leadership = await a.standby();
  assert.equal(leadership.valid(), true);
  leadership.assertValid();
  // As after a SIGSTOP: the clock jumped past the lease, no timer ran yet.
  skew = OPTIONS.ttl;
  assert.equal(leadership.valid(), false);
  assert.throws(() => leadership.assertValid(), LeadershipLostError);
  assert.equal(leadership.signal.aborted, true);
});

Deno.test("valid() measures the lease on the monotonic clock: a wall clock stepped back extends nothing", async () => {
  let pausedFor = 0;
  const clock: Clock = {
    ...systemClock,
    // As after a SIGSTOP during which the wall clock was set back by as
    // much: Date.now() did not move, the monotonic time did.
    now: () => Date.now(),
    monotonic: () => performance.now() + pausedFor,
  };
  const driver = new MemoryDriver();
  await using a = new Registry({ ...OPTIONS, driver, id: "a", clock });
  await a.start();
  const leadership = await a.standby();
  assert.equal(leadership.valid(), true);
  pausedFor = OPTIONS.ttl;
  assert.equal(leadership.valid(), false);
  assert.throws(() => leadership.assertValid(), LeadershipLostError);
});

// Last in the file: etcd3 leaves gRPC timers that may start after its test
// ends, and the sanitizers would blame the test that runs then.
for (const engine of ENGINES) {
  Deno.test(
    engineTest(engine, `elections on ${engine.name}`, async (t) => {
      await using backend = await engine.start();
      await testElection(t, {
        driver: () => backend.driver(),
        loseData: backend.loseData,
        timing: {
          ttl: backend.timing.ttl,
          heartbeatInterval: backend.timing.interval,
        },
      });
    }),
  );
}
