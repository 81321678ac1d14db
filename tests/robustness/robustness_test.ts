/**
 * The robustness harness's short fixed-seed schedule, per engine, as CI
 * runs it: real processes, real faults, and no violation of the promise.
 * `deno task robustness` runs longer schedules and writes the report.
 */

import assert from "node:assert/strict";
import { redisTest } from "../_redis_server.ts";
import { type RunOptions, runSchedule } from "./harness.ts";
import { memoryEngine } from "./memory_engine.ts";
import { redisEngine } from "./redis_engine.ts";
import { redisClusterEngine } from "./redis_cluster_engine.ts";
import { etcdEngine } from "./etcd_engine.ts";
import { postgresEngine } from "./postgres_engine.ts";
import { postgresTest } from "../_postgres_server.ts";
import { etcdTest } from "../_etcd_server.ts";

const SETTINGS: RunOptions["settings"] = {
  ttl: 600,
  interval: 200,
  heartbeatTimeout: 100,
  service: "svc",
};

function assertKept(result: Awaited<ReturnType<typeof runSchedule>>): void {
  assert.deepEqual(
    result.violations.map((v) => `${v.rule}: ${v.message}`),
    [],
    `seed ${result.seed} on ${result.engine} broke the promise`,
  );
  // A schedule that observed nothing proves nothing.
  const { history } = result;
  assert.ok(history.observations.filter((o) => o.ok).length > 20);
  assert.ok(history.watches.length > 0);
  assert.ok(history.members.some((m) => m.kind === "granted"));
  assert.ok(history.writes.length > 0);
}

function schedule(seed: number, durationMs: number): RunOptions {
  return {
    seed,
    durationMs,
    members: 5,
    settings: SETTINGS,
    log: (line) => console.log(line),
  };
}

Deno.test("robustness: memory keeps the promise under process faults", async () => {
  await using engine = memoryEngine();
  assertKept(await runSchedule(engine, schedule(7, 12_000)));
});

Deno.test(redisTest(
  "robustness: Redis keeps the promise under backend and process faults",
  async () => {
    await using engine = await redisEngine("robust", SETTINGS.heartbeatTimeout);
    assertKept(await runSchedule(engine, schedule(11, 30_000)));
  },
));

Deno.test(redisTest(
  "robustness: a Redis Cluster keeps the promise through slot migrations, failovers and process faults",
  async () => {
    await using engine = await redisClusterEngine(
      "robust",
      SETTINGS.heartbeatTimeout,
    );
    assertKept(await runSchedule(engine, schedule(3, 30_000)));
  },
));

Deno.test(etcdTest(
  "robustness: etcd keeps the promise, as its driver's limitations state it, under backend and process faults",
  async () => {
    // The engine's own settings: etcd's leases are whole seconds.
    await using engine = await etcdEngine("robust");
    assertKept(await runSchedule(engine, schedule(1, 30_000)));
  },
));

Deno.test(postgresTest(
  "robustness: PostgreSQL keeps the promise under freezes, write locks, restarts, lost rows and process faults",
  async () => {
    await using engine = await postgresEngine(
      "robust",
      SETTINGS.heartbeatTimeout,
    );
    assertKept(await runSchedule(engine, schedule(2, 30_000)));
  },
));
