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
  type Registry,
  WaitForTimeoutError,
} from "../mod.ts";
import { connect, discoveryRegistry, fail, out, stopSignals } from "./_cli.ts";
import type { RunnerConfig } from "./config.ts";
import { formatInstanceTable } from "./format_instances.ts";
import type { HttpConfig } from "./http_config.ts";
import { RunnerMetrics } from "./metrics.ts";
import {
  describeListenError,
  startStatusServer,
  type StatusServer,
} from "./status_server.ts";

/** Runs `body` with a discovery-only registry, closing everything after. */
async function discover(
  config: RunnerConfig,
  body: (registry: Registry, driver: Driver) => Promise<number>,
): Promise<number> {
  if (config.driver === "memory") {
    console.error(
      'roster: note: the memory driver lives inside one process, so this command sees no other process; use driver = "redis" to share a registry',
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

function printInstances(instances: Instance[], json: boolean): void {
  if (json) out(JSON.stringify(instances, null, 2));
  else if (instances.length === 0) out("no live instances");
  else console.log(formatInstanceTable(instances, Date.now()).trimEnd());
}

/**
 * `list`: the live instances, as a table or a JSON array.
 *
 * @param config The config.
 * @param service Only this service, when given.
 * @param json Print JSON.
 * @param all Include unhealthy instances.
 * @returns The exit code.
 */
export function listCommand(
  config: RunnerConfig,
  service: string | undefined,
  json: boolean,
  all = false,
): Promise<number> {
  return discover(config, async (registry) => {
    const services = service ? [service] : [];
    printInstances(
      all
        ? await registry.allInstances(...services)
        : await registry.instances(...services),
      json,
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
    registry.on("view", ({ state }) => {
      if (!json) console.error(`roster: the view is ${state}`);
    });
    const events = registry.watch(service, {
      current: true,
      signal: signals.controller.signal,
    });
    for await (const event of events) {
      const at = new Date().toISOString();
      if (json) out(JSON.stringify({ at, ...event }));
      else {
        const { instance } = event;
        out(
          `${at} ${event.type.padEnd(6)} ${
            event.reason.padEnd(12)
          } ${instance.id} (${instance.service}${
            instance.version ? ` ${instance.version}` : ""
          }) ${instance.addr || "-"} seq=${instance.seq}`,
        );
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
      out(
        `${leader.id} leads ${service} (seq ${leader.seq}, addr ${
          leader.addr || "-"
        })`,
      );
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
 * @param json Print JSON.
 * @returns The exit code.
 */
export function waitCommand(
  config: RunnerConfig,
  service: string,
  min: number,
  timeout: number,
  json: boolean,
): Promise<number> {
  return discover(config, async (registry) => {
    using signals = stopSignals();
    try {
      const live = await registry.waitFor(service, {
        min,
        timeout,
        signal: signals.controller.signal,
      });
      printInstances(live, json);
      return 0;
    } catch (error) {
      if (error instanceof WaitForTimeoutError) {
        fail(error.message);
        return 1;
      }
      if (signals.controller.signal.aborted) {
        fail(`stopped before ${min} instances of '${service}' were live`);
        return 1;
      }
      throw error;
    }
  });
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
    const metrics = new RunnerMetrics();
    metrics.served = true;
    let server: StatusServer;
    try {
      server = startStatusServer(http, registry, metrics);
    } catch (error) {
      fail(describeListenError(error, http));
      return 1;
    }
    using signals = stopSignals();
    out(`roster: status server on http://${http.hostname}:${server.port}/`);
    const signal = await signals.stopped;
    await server.shutdown();
    out(`roster: stopped on ${signal}`);
    return 0;
  });
}
