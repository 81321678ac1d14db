import assert from "node:assert/strict";
import { registration } from "../_registration.ts";
import {
  type HeartbeatEvents,
  HeartbeatLoop,
} from "../../heartbeat/heartbeat_loop.ts";
import { AlreadyRegisteredError, TimeoutError } from "../../errors.ts";
import { FakeClock } from "../../testing/fake_clock.ts";
import { FlakyDriver } from "../_flaky_driver.ts";
import { captureLogs } from "../_log_capture.ts";

type Recorded = {
  [K in keyof HeartbeatEvents]: [K, HeartbeatEvents[K]];
}[keyof HeartbeatEvents];

async function setup(
  options: { interval?: number; ttl?: number; random?: () => number } = {},
) {
  const clock = new FakeClock();
  const driver = new FlakyDriver(clock);
  const reg = registration({ ttl: options.ttl ?? 3000 });
  const instance = await driver.register(reg);
  const events: Recorded[] = [];
  const beatTimes: number[] = [];
  const loop = new HeartbeatLoop({
    driver,
    registration: reg,
    instance,
    interval: options.interval ?? 1000,
    timeout: 500,
    clock,
    random: options.random,
    emit: (type, event) => {
      events.push([type, event] as Recorded);
      if (type === "heartbeat") beatTimes.push(clock.now());
    },
  });
  const of = <K extends keyof HeartbeatEvents>(type: K) =>
    events.filter((e) => e[0] === type).map((e) => e[1] as HeartbeatEvents[K]);
  return { clock, driver, reg, loop, events, beatTimes, of };
}

Deno.test("beats every interval and keeps the instance live far past its ttl", async () => {
  const { clock, driver, loop, of } = await setup();
  loop.start();
  await clock.tickAsync(60_000);
  assert.equal((await driver.list({ env: "default" })).length, 1);
  // 60 s at 1 s ± 10%: between 54 and 67 beats.
  const beats = of("heartbeat").length;
  assert.ok(beats >= 54 && beats <= 67, `beats: ${beats}`);
  await loop.stop();
  assert.equal(clock.pendingTimers, 0, "stop leaves no timer behind");
});

Deno.test("jitter spreads each delay by at most ±10%", async () => {
  for (
    const [random, expected] of [[() => 0, 900], [() => 0.999999, 1100], [
      () => 0.5,
      1000,
    ]] as const
  ) {
    const { clock, loop, beatTimes } = await setup({ random });
    const start = clock.now();
    loop.start();
    await clock.tickAsync(3_500);
    await loop.stop();
    assert.deepEqual(
      beatTimes.map((t, i) =>
        t - (i === 0 ? start : beatTimes[i - 1] as number)
      ),
      beatTimes.map(() => expected),
    );
  }
});

Deno.test("failures retry with capped exponential backoff and never throw", async () => {
  await using logs = await captureLogs();
  const { clock, driver, loop, of } = await setup({ random: () => 0.5 });
  loop.start();
  await clock.tickAsync(1_000);
  driver.failWith = new Error("connection refused");
  await clock.tickAsync(20_000);
  const failures = of("heartbeat_failed");
  assert.deepEqual(
    failures.slice(0, 6).map((f) => f.retryIn),
    [100, 200, 400, 500, 500, 500],
  );
  assert.deepEqual(failures.slice(0, 3).map((f) => f.attempt), [1, 2, 3]);
  assert.equal(loop.state, "failing");
  // One warning for the whole outage, not one per attempt.
  const warnings = logs.messages().filter((m) => m.startsWith("warning"));
  assert.equal(warnings.length, 1, warnings.join("\n"));
  assert.match(warnings[0] as string, /connection refused/);
  assert.doesNotMatch(warnings[0] as string, /\n\s+at /, "no stack at WARN");
  // The stack is there at DEBUG for whoever looks.
  assert.ok(
    logs.messages().some((m) =>
      m.startsWith("debug") && /connection refused\n\s+at /.test(m)
    ),
    logs.messages().join("\n"),
  );

  driver.failWith = undefined;
  await clock.tickAsync(600);
  assert.equal(loop.state, "healthy");
  const [recovered] = of("recovered");
  assert.equal(recovered?.attempts, failures.length);
  assert.ok((recovered?.downtime ?? 0) >= 19_000);
  assert.equal(
    logs.messages().filter((m) => m.includes("recovered")).length,
    1,
  );
  assert.deepEqual(of("state").map((s) => `${s.from}>${s.to}`), [
    "healthy>failing",
    "failing>healthy",
  ]);
  await loop.stop();
});

Deno.test("after the backend lost the registration, the next beat registers again and reports it", async () => {
  await using logs = await captureLogs();
  const { clock, driver, loop, of } = await setup();
  const before = (await driver.list({ env: "default" }))[0];
  loop.start();
  await driver.forgetAll();
  assert.equal((await driver.list({ env: "default" })).length, 0);
  await clock.tickAsync(1_100);
  const [again] = of("reregistered");
  assert.ok(again, "a reregistered event");
  assert.equal(again.previousSeq, before?.seq);
  assert.ok(again.instance.seq > (before?.seq ?? 0));
  assert.equal(
    (await driver.list({ env: "default" }))[0]?.seq,
    again.instance.seq,
  );
  assert.equal(
    logs.messages().filter((m) => m.includes("registered it again")).length,
    1,
  );
  await loop.stop();
});

Deno.test("a registration that expired during an outage is re-created when the backend returns", async () => {
  const { clock, driver, loop, of } = await setup({ ttl: 3000 });
  loop.start();
  driver.failWith = new Error("down");
  await clock.tickAsync(10_000);
  assert.equal(
    (await driver.inner.list({ env: "default" })).length,
    0,
    "expired meanwhile",
  );
  driver.failWith = undefined;
  await clock.tickAsync(1_100);
  assert.equal(of("reregistered").length, 1);
  assert.equal(of("recovered").length, 1);
  assert.equal((await driver.list({ env: "default" })).length, 1);
  await loop.stop();
});

Deno.test("when another owner took the id, the loop reports a conflict once and reclaims it later", async () => {
  const { clock, driver, reg, loop, of } = await setup({ ttl: 3000 });
  loop.start();
  driver.failWith = new Error("partition");
  await clock.tickAsync(4_000);
  const usurper = { ...reg, owner: crypto.randomUUID() };
  await driver.inner.register(usurper);
  driver.failWith = undefined;
  await clock.tickAsync(2_500);
  assert.equal(loop.state, "conflict");
  assert.equal(of("conflict").length, 1);
  assert.ok(of("conflict")[0]?.error instanceof AlreadyRegisteredError);
  await driver.inner.deregister(usurper);
  await clock.tickAsync(1_100);
  assert.equal(loop.state, "healthy");
  assert.equal(of("reregistered").length, 1);
  await loop.stop();
});

Deno.test("a hung heartbeat times out, and no second beat is sent while it is in flight", async () => {
  const { clock, driver, loop, of } = await setup();
  loop.start();
  await clock.tickAsync(1_000);
  driver.hang = true;
  await clock.tickAsync(10_000);
  const failures = of("heartbeat_failed");
  assert.ok(failures[0]?.error instanceof TimeoutError);
  assert.match(String(failures[1]?.error), /still in flight/);
  assert.equal(driver.maxInflight, 1);
  driver.hang = false;
  driver.release();
  await clock.tickAsync(1_100);
  assert.equal(loop.state, "healthy");
  await loop.stop();
});

Deno.test("stop waits for the beat in flight and schedules nothing more", async () => {
  const { clock, driver, loop } = await setup();
  loop.start();
  await clock.tickAsync(1_000);
  const beats = driver.heartbeats;
  await loop.stop();
  await clock.tickAsync(10_000);
  assert.equal(driver.heartbeats, beats);
  assert.equal(clock.pendingTimers, 0);
});
