/**
 * The runner's commands for scripts and operators: `list`, `watch`,
 * `leader`, `wait` and `serve`. None of them registers this process.
 *
 * @module
 */

import {
  type Driver,
  formatDuration,
  type Instance,
  type ProtectionChange,
  type Registry,
  WaitForTimeoutError,
} from "../mod.ts";
import { connect, discoveryRegistry, hostForUrl, stopSignals } from "./_cli.ts";
import { createDriver } from "./create_driver.ts";
import { fail, note, out, report, terminalSafe, useColor } from "./_output.ts";
import { isLate } from "./status_view.ts";
import process from "node:process";
import type { RunnerConfig } from "./config/config.ts";
import { formatInstanceTable } from "./format_instances.ts";
import type { HttpConfig } from "./config/http_config.ts";
import { RunnerMetrics } from "./metrics.ts";
import type { StatusServer } from "./status_server.ts";

/**
 * Runs `body` with a discovery-only registry, closing everything after; a
 * failure is one line on stderr and exit code 1.
 *
 * @param config The config: where to read.
 * @param body What to do.
 * @returns The exit code.
 */
export async function discover(
  config: RunnerConfig,
  body: (registry: Registry, driver: Driver) => Promise<number>,
): Promise<number> {
  if (!config.driverConfig.shared) {
    note(
      `note: the ${config.driver} driver lives inside one process, so this command sees no other process; use driver = "redis" to share a registry`,
    );
  }
  const driver = await connect(config);
  if (!driver) return 1;
  const registry = discoveryRegistry(config, driver);
  try {
    return await body(registry, driver);
  } catch (error) {
    // One line, never a trace: a refused command (a wrong-type key, an
    // out-of-memory reply) is the operator's to fix, not a crash.
    fail((error as Error)?.message ?? String(error));
    return 1;
  } finally {
    await registry.stop();
    await driver.close();
  }
}

/** How `list` and `wait` print: a table, a wide one with meta, or JSON. */
export type OutputFormat = "table" | "wide" | "json";

function printInstances(instances: Instance[], format: OutputFormat): void {
  const now = Date.now();
  if (format === "json") {
    out(JSON.stringify(
      instances.map((i) => ({ ...i, late: isLate(i, now) })),
      null,
      2,
    ));
  } else if (instances.length === 0) out("no live instances");
  else {
    out(
      formatInstanceTable(instances, {
        now,
        wide: format === "wide",
        color: useColor(),
      }).trimEnd(),
    );
  }
}

/**
 * `list`: the live instances, as a table or a JSON array.
 *
 * @param config The config.
 * @param service Only this service, when given.
 * @param format A table, a wide table, or JSON.
 * @param all Include unhealthy instances.
 * @returns The exit code.
 */
export function listCommand(
  config: RunnerConfig,
  service: string | undefined,
  format: OutputFormat,
  all = false,
): Promise<number> {
  return discover(config, async (registry) => {
    const services = service ? [service] : [];
    printInstances(
      all
        ? await registry.allInstances(...services)
        : await registry.instances(...services),
      format,
    );
    return 0;
  });
}

/**
 * `watch`: the live instances, then every join, update and leave until
 * SIGINT or SIGTERM; one JSON object a line with `json`.
 *
 * @param config The config.
 * @param service Only this service, when given.
 * @param json Print JSON lines.
 * @returns The exit code.
 */
export function watchCommand(
  config: RunnerConfig,
  service: string | undefined,
  json: boolean,
): Promise<number> {
  return discover(config, async (registry) => {
    using signals = stopSignals();
    registry.on("view", ({ state, error }) => {
      if (!json) {
        note(
          `the view is ${state}${
            error ? `: ${(error as Error).message ?? error}` : ""
          }`,
        );
      }
    });
    registry.on("protection", (change) => {
      if (service !== undefined && change.service !== service) return;
      // After the watch events of the same moment (the leaves before a hold,
      // or those a bound releases), which the watch loop prints first.
      setTimeout(() => printProtection(change), 0);
    });
    const printProtection = (change: ProtectionChange) => {
      const held = change.held.map((i) => i.id);
      if (json) {
        out(JSON.stringify({
          at: new Date().toISOString(),
          type: "protection",
          ...change,
          held,
        }));
      } else {
        note(terminalSafe(
          change.on
            ? `eviction protection on for ${change.service}: most of it expired within one ttl; holding its expiries (${
              held.join(" ")
            } so far) until they beat again or ${
              new Date(change.until ?? 0).toISOString()
            }`
            : `eviction protection off for ${change.service}: ${change.reason}${
              held.length ? `; ${held.join(" ")} expired` : ""
            }`,
        ));
      }
    };
    const events = registry.watch(service, {
      current: true,
      signal: signals.controller.signal,
    });
    for await (const event of events) {
      const at = new Date().toISOString();
      if (json) out(JSON.stringify({ at, ...event }));
      else {
        const { instance } = event;
        out(terminalSafe(
          `${at} ${event.type.padEnd(6)} ${
            event.reason.padEnd(12)
          } ${instance.id} (${instance.service}${
            instance.version ? ` ${instance.version}` : ""
          }) ${instance.addr || "-"} seq=${instance.seq} ${instance.status}`,
        ));
      }
    }
    return 0;
  });
}

/**
 * `leader`: the current leader of a service; exit 1 when it has none, or
 * when the registry cannot be read within `timeout`.
 *
 * @param config The config.
 * @param service The service.
 * @param timeout How long to try, in ms.
 * @param json Print JSON.
 * @returns The exit code.
 */
export function leaderCommand(
  config: RunnerConfig,
  service: string,
  timeout: number,
  json: boolean,
): Promise<number> {
  return discover(config, async (registry) => {
    let lastError: unknown;
    registry.on("view", ({ error }) => lastError = error ?? lastError);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const gaveUp = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeout);
    });
    const leader = await Promise.race([registry.leader(service), gaveUp])
      .finally(() => clearTimeout(timer));
    if (leader === "timeout") {
      fail(
        `could not read the registry within ${formatDuration(timeout)}${
          lastError ? `: ${(lastError as Error).message ?? lastError}` : ""
        }`,
      );
      return 1;
    }
    if (json) out(JSON.stringify({ service, leader: leader ?? null }));
    else if (leader) {
      out(terminalSafe(
        `${leader.id} leads ${service} (seq ${leader.seq}, addr ${
          leader.addr || "-"
        })`,
      ));
    } else out(`${service} has no live instance, so no leader`);
    return leader ? 0 : 1;
  });
}

/**
 * `wait`: waits for at least `min` live instances of a service; exit 0 with
 * them listed, or 1 on timeout.
 *
 * @param config The config.
 * @param service The service.
 * @param min How many.
 * @param timeout How long, in ms.
 * @param format How to print the instances once there.
 * @returns The exit code: 0, 1 on timeout, 130 when interrupted.
 */
export function waitCommand(
  config: RunnerConfig,
  service: string,
  min: number,
  timeout: number,
  format: OutputFormat,
): Promise<number> {
  return discover(config, async (registry) => {
    using signals = stopSignals();
    const progress = format !== "json" && process.stderr.isTTY === true
      ? showProgress(registry, service, min, Date.now() + timeout)
      : undefined;
    try {
      const live = await registry.waitFor(service, {
        min,
        timeout,
        signal: signals.controller.signal,
      });
      progress?.stop();
      printInstances(live, format);
      return 0;
    } catch (error) {
      progress?.stop();
      if (error instanceof WaitForTimeoutError) {
        fail(error.message);
        return 1;
      }
      if (signals.controller.signal.aborted) {
        fail(
          `interrupted before ${min} ${
            plural(min, "instance")
          } of '${service}' were live`,
        );
        return 130;
      }
      throw error;
    }
  });
}

/** `N thing` or `N things`. */
function plural(n: number, thing: string): string {
  return n === 1 ? thing : `${thing}s`;
}

/** Keeps one line on a terminal's stderr: `2/3 api instances live, 12s left`. */
function showProgress(
  registry: Registry,
  service: string,
  min: number,
  deadline: number,
): { stop(): void } {
  let live = 0;
  const draw = () => {
    const left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    process.stderr.write(
      `\r\x1b[K${live}/${min} ${service} ${
        plural(min, "instance")
      } live, ${left}s left`,
    );
  };
  const read = () =>
    registry.instances(service).then((found) => {
      live = found.length;
      draw();
    }, () => {});
  void read();
  const timer = setInterval(read, 1_000);
  return {
    stop() {
      clearInterval(timer);
      process.stderr.write("\r\x1b[K");
    },
  };
}

/**
 * `serve` (or `dashboard`): the status server and dashboard, without
 * registering anything; until SIGTERM or SIGINT.
 *
 * @param config The config, with a `[cluster.http]` table.
 * @returns The exit code.
 */
export function serveCommand(config: RunnerConfig): Promise<number> {
  const http = config.http as HttpConfig;
  return discover(config, async (registry) => {
    const { describeListenError, startStatusServer } = await import(
      "./status_server.ts"
    );
    const metrics = new RunnerMetrics();
    metrics.served = true;
    let server: StatusServer;
    try {
      server = await startStatusServer(http, registry, metrics);
    } catch (error) {
      fail(describeListenError(error, http));
      return 1;
    }
    using signals = stopSignals();
    report(
      "serving",
      `status server on http://${hostForUrl(http.hostname)}:${server.port}/`,
      { url: `http://${hostForUrl(http.hostname)}:${server.port}/` },
    );
    const signal = await signals.stopped;
    await server.shutdown();
    report("stopped", `stopped on ${signal}`, { signal });
    return 0;
  });
}

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
export async function statusCommand(
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
    else {
      const rows = [
        ["backend", `${status.server} at ${status.target}: reachable`],
        ["latency", `${latency.toFixed(2)}ms`],
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
          `${env}: ${status.entries} ${
            status.entries === 1 ? "entry" : "entries"
          }, change log of ${status.changeLogLength}`,
        ],
      ];
      out(
        rows.map(([k, v]) => `${k!.padEnd(8)} ${terminalSafe(v!)}`).join("\n"),
      );
    }
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
