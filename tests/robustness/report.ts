/**
 * Writes what robustness runs survived as Markdown: a table per engine of
 * the faults and process actions it went through, what was observed, and
 * every violation with its seed.
 *
 * @module
 */

import { writeFile } from "node:fs/promises";
import type { RunResult } from "./harness.ts";
import type { RunSettings } from "./history.ts";

/**
 * Renders and writes the report.
 *
 * @param path Where it goes.
 * @param results The runs, any engines.
 * @param context The command that made it, and the settings.
 */
export async function writeReport(
  path: string,
  results: RunResult[],
  context: { command: string; settings: RunSettings },
): Promise<void> {
  await writeFile(path, renderReport(results, context));
}

/**
 * The report's Markdown.
 *
 * @param results The runs.
 * @param context The command and settings.
 * @returns The text.
 */
export function renderReport(
  results: RunResult[],
  context: { command: string; settings: RunSettings },
): string {
  const { ttl, interval, heartbeatTimeout } = context.settings;
  const lines = [
    "# Robustness",
    "",
    "What `deno task robustness` found: real processes (members that",
    "register, lead and write their term to a fenced register; watchers",
    "with and without `cache: true`; a cold observer asking `list`,",
    "`waitFor`, `quorum` and `leader`) under a seeded schedule of backend",
    "and process faults, checked against the promise (see",
    "`tests/robustness/checker.ts` for the rules and their slack).",
    "",
    `- Command: \`${context.command}\``,
    `- Settings: ttl ${ttl} ms, heartbeat interval ${interval} ms, heartbeat timeout ${heartbeatTimeout} ms`,
    `- Generated: ${new Date().toISOString()}`,
    "",
  ];
  const engines = [...new Set(results.map((r) => r.engine))];
  for (const engine of engines) {
    const runs = results.filter((r) => r.engine === engine);
    const actions: Record<string, number> = {};
    for (const run of runs) {
      for (const [name, count] of Object.entries(run.actions)) {
        actions[name] = (actions[name] ?? 0) + count;
      }
    }
    const violations = runs.flatMap((r) =>
      r.violations.map((v) => ({ seed: r.seed, ...v }))
    );
    const sum = (f: (r: RunResult) => number) =>
      runs.reduce((total, r) => total + f(r), 0);
    lines.push(
      `## ${engine}`,
      "",
      `Seeds ${runs.map((r) => r.seed).join(", ")}: ${
        violations.length === 0
          ? "**no violation**"
          : `**${violations.length} violations**`
      }.`,
      "",
      "| fault or action | times |",
      "| --- | ---: |",
      ...Object.entries(actions).sort().map(([name, count]) =>
        `| ${name} | ${count} |`
      ),
      "",
      ...runs[0]!.limits.map((limit) => `- Not covered: ${limit}`),
      ...settingsLine(runs[0]!.history.settings, context.settings),
      "",
      "| what was checked | count |",
      "| --- | ---: |",
      `| successful observations | ${
        sum((r) => r.history.observations.filter((o) => o.ok).length)
      } |`,
      `| failed observations (claim nothing) | ${
        sum((r) => r.history.observations.filter((o) => !o.ok).length)
      } |`,
      `| watch events | ${sum((r) => r.history.watches.length)} |`,
      `| leadership grants | ${
        sum((r) => r.history.members.filter((m) => m.kind === "granted").length)
      } |`,
      `| fenced writes accepted | ${
        sum((r) => r.history.writes.filter((w) => w.accepted).length)
      } |`,
      `| stale writes the fence refused | ${sum((r) => r.fenced)} |`,
      "",
    );
    if (violations.length > 0) {
      lines.push("| seed | rule | what |", "| ---: | --- | --- |");
      for (const v of violations.slice(0, 50)) {
        lines.push(`| ${v.seed} | ${v.rule} | ${v.message} |`);
      }
      lines.push("");
    }
  }
  return lines.join("\n");
}

/** The settings an engine ran with, where they differ from the run's. */
function settingsLine(own: RunSettings, run: RunSettings): string[] {
  if (
    own.ttl === run.ttl && own.interval === run.interval &&
    own.heartbeatTimeout === run.heartbeatTimeout
  ) return [];
  return [
    `- Settings here: ttl ${own.ttl} ms, heartbeat interval ${own.interval} ms, heartbeat timeout ${own.heartbeatTimeout} ms`,
  ];
}
