/**
 * `deno task robustness`: runs seeded schedules of the robustness harness
 * against one engine or all, and writes what they survived to
 * `docs/ROBUSTNESS.md`. A violation prints the seed and a minimal history,
 * and the command exits 1.
 *
 *     deno task robustness --driver redis --seed 7 --minutes 5
 *     deno task robustness --driver all --seeds 3 --minutes 2
 *
 * @module
 */

import { parseArgs } from "node:util";
import process from "node:process";
import { excerpt } from "./checker.ts";
import { type RunResult, runSchedule } from "./harness.ts";
import { ENGINES as ALL_ENGINES } from "../_engines.ts";
import { writeReport } from "./report.ts";

/** The shared suites' engines, by their `--driver` names. */
const ENGINES = Object.fromEntries(
  ALL_ENGINES.map((engine) => [engine.robustness.slug, engine.robustness]),
);

const { values } = parseArgs({
  args: Deno.args,
  options: {
    driver: { type: "string", default: "all" },
    seed: { type: "string" },
    seeds: { type: "string", default: "1" },
    minutes: { type: "string", default: "1" },
    members: { type: "string", default: "6" },
    only: { type: "string", multiple: true },
    report: { type: "string", default: "docs/ROBUSTNESS.md" },
    quiet: { type: "boolean", default: false },
  },
});

const settings = {
  ttl: 600,
  interval: 200,
  heartbeatTimeout: 100,
  service: "svc",
};
const names = values.driver === "all" ? Object.keys(ENGINES) : [values.driver!];
for (const name of names) {
  if (!ENGINES[name]) {
    console.error(
      `Unknown --driver '${name}'; use one of ${
        Object.keys(ENGINES).join(", ")
      } or all`,
    );
    process.exit(2);
  }
}
const firstSeed = values.seed === undefined
  ? Math.floor(Math.random() * 1_000_000)
  : Number(values.seed);
const results: RunResult[] = [];
for (const name of names) {
  for (let i = 0; i < Number(values.seeds); i++) {
    const seed = firstSeed + i;
    await using engine = await ENGINES[name]!.start(
      "robust",
      settings.heartbeatTimeout,
    );
    const result = await runSchedule(engine, {
      seed,
      durationMs: Number(values.minutes) * 60_000,
      members: Number(values.members),
      settings,
      only: values.only,
      log: values.quiet ? undefined : (line) => console.log(line),
    });
    results.push(result);
    console.log(
      `${name} seed ${seed}: ${result.violations.length} violations, ${
        Object.values(result.actions).reduce((a, b) => a + b, 0)
      } faults and actions, ${result.fenced} stale writes fenced`,
    );
    for (const violation of result.violations.slice(0, 10)) {
      console.log(`  ${violation.rule}: ${violation.message}`);
      for (const line of excerpt(result.history, violation)) {
        console.log(`      ${line}`);
      }
    }
  }
}
await writeReport(values.report!, results, {
  command: `deno task robustness ${Deno.args.join(" ")}`.trim(),
  settings,
});
console.log(`Report written to ${values.report}`);
process.exit(results.some((r) => r.violations.length > 0) ? 1 : 0);
