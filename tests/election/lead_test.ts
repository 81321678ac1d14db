/**
 * `lead()`: leadership is released only when the leader's work returns (as
 * Kubernetes' ReleaseOnCancel, KEP-5366), within a bound, and a lost
 * leadership always says why.
 */

import assert from "node:assert/strict";
import { LeadershipLostError, Registry } from "../../mod.ts";
import { MemoryDriver } from "../../testing/mod.ts";
import { eventually, sleep } from "../discovery/_discovery_suite.ts";

const OPTIONS = { service: "cron", heartbeatInterval: 100, ttl: 400 } as const;

Deno.test("stop() mid-work: the signal aborts at once, the standby leads only after the work returns", async () => {
  const driver = new MemoryDriver();
  const a = new Registry({ ...OPTIONS, driver, id: "a" });
  await using b = new Registry({ ...OPTIONS, driver, id: "b" });
  await a.start();
  await b.start();
  const timeline: string[] = [];
  let stopping!: () => void;
  const cleanupDone = new Promise<void>((resolve) => stopping = resolve);
  const working = a.lead(async (leadership) => {
    timeline.push(`a leads ${leadership.term}`);
    await new Promise((resolve) =>
      leadership.signal.addEventListener("abort", resolve, { once: true })
    );
    assert.ok(leadership.signal.reason instanceof LeadershipLostError);
    timeline.push(`a told: ${leadership.signal.reason.reason}`);
    // The work takes a while to wind down after it was told.
    await cleanupDone;
    timeline.push("a's work returned");
    return "wound down";
  }, { releaseTimeout: 5_000 });
  await eventually("a leads", () => timeline.length > 0);
  const bLeads = b.standby().then((leadership) => {
    timeline.push(`b leads ${leadership.term}`);
    return leadership;
  });
  const stopped = a.stop();
  await eventually(
    "a told",
    () => timeline.some((l) => l.startsWith("a told")),
  );
  // Well past a's lease: b still may not lead while a's work runs.
  await sleep(OPTIONS.ttl * 2);
  assert.ok(
    !timeline.some((l) => l.startsWith("b leads")),
    timeline.join("\n"),
  );
  stopping();
  assert.equal(await working, "wound down");
  await stopped;
  const leadership = await bLeads;
  assert.deepEqual(
    timeline.map((l) => l.replace(/\d+/g, "N")),
    [
      "a leads N",
      "a told: the registry stopped",
      "a's work returned",
      "b leads N",
    ],
  );
  assert.ok(leadership.term > Number(timeline[0]!.split(" ")[2]));
});

Deno.test("work that ignores the signal is released after releaseTimeout anyway", async () => {
  const driver = new MemoryDriver();
  const a = new Registry({ ...OPTIONS, driver, id: "a", stopTimeout: 2_000 });
  await using b = new Registry({ ...OPTIONS, driver, id: "b" });
  await a.start();
  await b.start();
  let started = false;
  const forever = new Promise<never>(() => {});
  void a.lead(async () => {
    started = true;
    await forever;
  }, { releaseTimeout: 300 });
  await eventually("a leads", () => started);
  const began = Date.now();
  await a.stop();
  const leadership = await b.standby();
  assert.ok(Date.now() - began >= 250, "the release waited for the bound");
  assert.ok(leadership.term > 0);
});

Deno.test("work that returns while leading releases at once, and lead() returns its value", async () => {
  const driver = new MemoryDriver();
  await using a = new Registry({ ...OPTIONS, driver, id: "a" });
  await using b = new Registry({ ...OPTIONS, driver, id: "b" });
  await a.start();
  await b.start();
  assert.equal(await a.lead(() => Promise.resolve(42)), 42);
  // a is still the oldest healthy instance, so it may lead again at once.
  const again = await a.standby();
  assert.ok(again.valid());
});

Deno.test("standby({ releaseTimeout }): a leader that turns unhealthy mid-work is told at once, and its successor waits for release()", async () => {
  const driver = new MemoryDriver();
  await using a = new Registry({ ...OPTIONS, driver, id: "a" });
  await using b = new Registry({ ...OPTIONS, driver, id: "b" });
  await a.start();
  await b.start();
  const leadership = await a.standby({ releaseTimeout: "1m" });
  let bLed = false;
  const next = b.standby().then((l) => {
    bLed = true;
    return l;
  });
  a.setStatus("unhealthy");
  await eventually("a told", () => leadership.signal.aborted);
  assert.match(
    (leadership.signal.reason as LeadershipLostError).reason,
    /turned unhealthy/,
  );
  await sleep(OPTIONS.ttl * 2);
  assert.equal(bLed, false, "no successor while a's work may still run");
  await leadership.release();
  assert.ok((await next).term > leadership.term);

  // Without releaseTimeout, a lost leadership is released at once.
  const again = await b.standby();
  let aLed = false;
  a.setStatus("healthy");
  const aNext = a.standby().then((l) => {
    aLed = true;
    return l;
  });
  await b.drain({ linger: 0, stop: false });
  assert.ok(again.signal.aborted);
  assert.match(String(again.signal.reason), /draining/);
  await eventually("a leads again", () => aLed);
  await again.release(); // released already: a no-op
  assert.ok((await aNext).term > again.term);
});
