/**
 * The robustness harness's short fixed-seed schedule, per engine, as CI
 * runs it: real processes, real faults, and no violation of the promise.
 * `deno task robustness` runs longer schedules and writes the report.
 */

import assert from "node:assert/strict";
import { ENGINES, engineTest } from "../_engines.ts";
import { type RunOptions, runSchedule } from "./harness.ts";

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

for (const engine of ENGINES) {
  const { robustness } = engine;
  Deno.test(engineTest(
    engine,
    `robustness: ${engine.name} keeps the promise under ${robustness.faults}`,
    async () => {
      await using run = await robustness.start(
        "robust",
        SETTINGS.heartbeatTimeout,
      );
      assertKept(
        await runSchedule(
          run,
          schedule(robustness.seed, robustness.durationMs),
        ),
      );
    },
  ));
}
