/**
 * Elections through registries: terms only rise across health flaps, at
 * most one leader at any instant (checked on a history of grants and
 * aborts), a clean hand-over on stop(), and a lease that the clock, not a
 * timer, decides.
 */

import assert from "node:assert/strict";
import {
  type Clock,
  type Leadership,
  LeadershipLostError,
  Registry,
  systemClock,
} from "../../mod.ts";
import { MemoryDriver } from "../../testing/mod.ts";
import { eventually, sleep } from "../discovery/_discovery_suite.ts";

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

Deno.test("a health flap moves leadership and back, each time under a higher term", async () => {
  const driver = new MemoryDriver();
  await using a = new Registry({ ...OPTIONS, driver, id: "a" });
  await using b = new Registry({ ...OPTIONS, driver, id: "b" });
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
  await eventually("b leads after a stops", () => history.at(-1)?.id === "b");
  assertOneLeaderAtATime(history);
});

Deno.test("three standbys through flaps and stops: at most one leader at any instant", async () => {
  const driver = new MemoryDriver();
  const registries = ["a", "b", "c"].map((id) =>
    new Registry({ ...OPTIONS, driver, id })
  );
  for (const registry of registries) await registry.start();
  const history: Term[] = [];
  const loops = registries.map((registry) => standby(registry, history));
  try {
    for (let round = 0; round < 4; round++) {
      const leader = registries.find((r) =>
        r.id === history.at(-1)?.id && r.state === "running"
      );
      await eventually(
        "someone leads",
        () => history.some((t) => t.endedAt === undefined),
      );
      const current = registries.find((r) =>
        r.id === history.find((t) =>
          t.endedAt === undefined
        )?.id
      ) ?? leader;
      current?.setStatus("unhealthy");
      await sleep(OPTIONS.heartbeatInterval * 3);
      current?.setStatus("healthy");
      await sleep(OPTIONS.heartbeatInterval * 3);
    }
    const first = registries[0] as Registry;
    await first.stop();
    await sleep(OPTIONS.heartbeatInterval * 4);
    assert.ok(history.length >= 5, `${history.length} terms`);
    assertOneLeaderAtATime(history);
  } finally {
    for (const loop of loops) await loop[Symbol.asyncDispose]();
    for (const registry of registries) await registry.stop();
  }
});

Deno.test("stop() ends leadership before the registration is released, and the standby takes over", async () => {
  const driver = new MemoryDriver();
  const a = new Registry({ ...OPTIONS, driver, id: "a" });
  await using b = new Registry({ ...OPTIONS, driver, id: "b" });
  await a.start();
  await b.start();
  const leadership = await a.standby();
  let abortedWhileRegistered: boolean | undefined;
  leadership.signal.addEventListener("abort", () => {
    abortedWhileRegistered = a.state === "running" || a.state === "stopping";
  });
  const next = b.standby();
  await a.stop();
  assert.equal(abortedWhileRegistered, true);
  const taken = await next;
  assert.ok(taken.term > leadership.term);
  assert.equal(leadership.valid(), false);
});

Deno.test("valid() answers from the clock right now: a process paused past its lease knows before any timer runs", async () => {
  let skew = 0;
  const clock: Clock = { ...systemClock, now: () => Date.now() + skew };
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

Deno.test("an unhealthy instance never campaigns, and one that turns unhealthy stops leading before it says so", async () => {
  const driver = new MemoryDriver();
  await using a = new Registry({
    ...OPTIONS,
    driver,
    id: "a",
    status: "unhealthy",
  });
  await using b = new Registry({ ...OPTIONS, driver, id: "b" });
  await a.start();
  await b.start();
  const leadership = await b.standby();
  let statusWhenAborted: string | undefined;
  leadership.signal.addEventListener("abort", () => {
    statusWhenAborted = (driver as MemoryDriver).stored() >= 0
      ? b.status
      : undefined;
  });
  b.setStatus("unhealthy");
  assert.equal(leadership.signal.aborted, true);
  assert.equal(statusWhenAborted, "healthy", "aborted before the new status");
});
