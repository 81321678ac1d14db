/**
 * `roster status`.
 *
 * @module
 */

import { type Driver, formatDuration } from "../../mod.ts";
import { SOURCE } from "../cli/flags.ts";
import type { RunnerConfig } from "../config/config.ts";
import { createDriver } from "../create_driver.ts";
import { fail, out, terminalSafe } from "../output.ts";
import type { Command } from "./command.ts";

/** A clock offset beyond this makes `status` fail: lateness is judged across clocks. */
const MAX_CLOCK_OFFSET_MS = 1_000;

/**
 * `status` (or `doctor`): checks the backend: reachable, latency, server
 * version, clock offset from this machine, and what the env stores.
 *
 * @param config The config.
 * @param timeout How long the backend may take to answer, in ms.
 * @param json Print one JSON object.
 * @returns 0 when all is well; 1 with the problem in one line.
 */
async function status(
  config: RunnerConfig,
  timeout: number,
  json: boolean,
): Promise<number> {
  const env = config.resolved.env;
  const problem = (message: string, facts: Record<string, unknown> = {}) => {
    if (json) out(JSON.stringify({ ok: false, problem: message, ...facts }));
    else fail(message);
    return 1;
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(`no answer within ${formatDuration(timeout)}`),
        ),
      timeout,
    );
  });
  let driver: Driver | undefined;
  try {
    driver = await Promise.race([createDriver(config), late]);
    if (!driver.status) {
      return problem(`the ${driver.name} driver cannot describe its backend`);
    }
    // The first call may load scripts or open a connection; time the second.
    await Promise.race([driver.status(env), late]);
    const sentAt = Date.now();
    const started = performance.now();
    const status = await Promise.race([driver.status(env), late]);
    const latency = performance.now() - started;
    const offset = Math.round(status.time - (sentAt + latency / 2));
    const facts = {
      driver: driver.name,
      server: status.server,
      target: status.target,
      latencyMs: Number(latency.toFixed(2)),
      clockOffsetMs: offset,
      env,
      entries: status.entries,
      changeLogLength: status.changeLogLength,
    };
    if (Math.abs(offset) > MAX_CLOCK_OFFSET_MS) {
      return problem(
        `the backend's clock is ${formatDuration(Math.abs(offset))} ${
          offset > 0 ? "ahead of" : "behind"
        } this machine's; expiry follows the backend's clock, but late beats are judged across both: sync them with NTP`,
        facts,
      );
    }
    if (json) out(JSON.stringify({ ok: true, ...facts }));
    else out(statusTable(facts, offset));
    return 0;
  } catch (error) {
    return problem(
      `cannot reach the ${config.driver} backend: ${
        (error as Error)?.message ?? String(error)
      }`,
    );
  } finally {
    clearTimeout(timer);
    await driver?.close();
  }
}

/** The rows `roster status` prints for a backend that is well. */
function statusTable(
  facts: {
    server: string;
    target: string;
    latencyMs: number;
    env: string;
    entries: number;
    changeLogLength: number;
  },
  offset: number,
): string {
  const rows = [
    ["backend", `${facts.server} at ${facts.target}: reachable`],
    ["latency", `${facts.latencyMs.toFixed(2)}ms`],
    [
      "clock",
      offset === 0
        ? "in step with this machine"
        : `${formatDuration(Math.abs(offset))} ${
          offset > 0 ? "ahead of" : "behind"
        } this machine`,
    ],
    [
      "env",
      `${facts.env}: ${facts.entries} ${
        facts.entries === 1 ? "entry" : "entries"
      }, change log of ${facts.changeLogLength}`,
    ],
  ];
  return rows.map(([k, v]) => `${k!.padEnd(8)} ${terminalSafe(v!)}`).join(
    "\n",
  );
}

/** `roster status`. */
export const statusCommand: Command = {
  usage: "roster status [--timeout 5s]",
  summary:
    "check the backend: reachable, latency, server version, clock offset, the env's entries and change log; exit 1 with the problem in one line",
  flags: [...SOURCE, "timeout"],
  example: "roster status --redis-url redis://127.0.0.1:6379",
  run: (o) => status(o.config, o.timeout ?? 5_000, o.format === "json"),
};
