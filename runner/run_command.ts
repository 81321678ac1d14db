/**
 * `roster run`: register this process, or a child process in sidecar mode,
 * and heartbeat until told to stop.
 *
 * @module
 */

import {
  AlreadyRegisteredError,
  attachHealth,
  type Driver,
  formatDuration,
  HealthCheck,
  type Instance,
  Registry,
} from "../mod.ts";
import { connect, discoveryRegistry, fail, out, stopSignals } from "./_cli.ts";
import { createDiscoveryDriver } from "./create_driver.ts";
import type { RunnerConfig } from "./config.ts";
import { RunnerMetrics } from "./metrics.ts";
import {
  describeListenError,
  startStatusServer,
  type StatusServer,
} from "./status_server.ts";

const SIGNAL_NUMBERS: Partial<Record<Deno.Signal, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGTERM: 15,
};

/**
 * Registers, prints one startup line, heartbeats, and on SIGTERM or SIGINT
 * deregisters within the stop timeout. With a command it is a sidecar: it
 * runs the command, registers once it is healthy, deregisters before passing
 * a stop signal on, and exits with the command's exit code.
 *
 * @param config A validated config with a service.
 * @param command The child command and its arguments, in sidecar mode.
 * @returns The exit code.
 */
export async function runCommand(
  config: RunnerConfig,
  command?: string[],
): Promise<number> {
  const driver = await connect(config);
  if (!driver) return 1;
  using signals = stopSignals();
  const metrics = new RunnerMetrics();
  const sidecar = command !== undefined && command.length > 0;
  // Run mode checks this process; a sidecar checks its child, below.
  const registry = new Registry({
    ...config.options,
    driver,
    health: sidecar ? undefined : config.health,
  });
  metrics.follow(registry);
  let server: StatusServer | undefined;
  let reader: Driver | undefined;
  let discovery: Registry | undefined;
  try {
    if (config.http) {
      try {
        reader = await createDiscoveryDriver(config, driver);
        server = startStatusServer(
          config.http,
          discovery = discoveryRegistry(config, reader),
          metrics,
          metrics.self,
        );
      } catch (error) {
        fail(describeListenError(error, config.http));
        return 1;
      }
      metrics.served = true;
      out(
        `roster: status server on http://${config.http.hostname}:${server.port}/`,
      );
    }
    return sidecar
      ? await runSidecar(config, command, registry, driver, signals, metrics)
      : await runSelf(registry, driver, signals, metrics);
  } finally {
    await registry.stop();
    await server?.shutdown();
    await discovery?.stop();
    if (reader !== driver) await reader?.close();
    await driver.close();
  }
}

async function register(
  registry: Registry,
  driver: Driver,
  metrics: RunnerMetrics,
): Promise<Instance | undefined> {
  let instance: Instance;
  try {
    instance = await registry.start();
  } catch (error) {
    fail(
      error instanceof AlreadyRegisteredError
        ? error.message
        : `cannot register with the ${driver.name} driver: ${error}`,
    );
    return undefined;
  }
  // Counting messages takes a subscription; only worth it when served.
  if (metrics.served) {
    await registry.onMessage(() => metrics.messagesReceived++).catch(() => {});
  }
  out(
    `roster: registered id=${instance.id} service=${instance.service} env=${instance.env} driver=${driver.name} interval=${
      formatDuration(registry.heartbeatInterval)
    } ttl=${formatDuration(registry.ttl)} seq=${instance.seq}`,
  );
  return instance;
}

async function stopRegistry(registry: Registry): Promise<boolean> {
  let removed = false;
  const off = registry.on("deregistered", (event) => removed = event.removed);
  await registry.stop();
  off();
  return removed;
}

async function runSelf(
  registry: Registry,
  driver: Driver,
  signals: ReturnType<typeof stopSignals>,
  metrics: RunnerMetrics,
): Promise<number> {
  const instance = await register(registry, driver, metrics);
  if (!instance) return 1;
  const signal = await signals.stopped;
  const removed = await stopRegistry(registry);
  out(
    `roster: stopped on ${signal}; id=${instance.id} ${
      removed ? "deregistered" : "not deregistered (it expires with its ttl)"
    }`,
  );
  return 0;
}

async function runSidecar(
  config: RunnerConfig,
  command: string[],
  registry: Registry,
  driver: Driver,
  signals: ReturnType<typeof stopSignals>,
  metrics: RunnerMetrics,
): Promise<number> {
  const [program, ...args] = command as [string, ...string[]];
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(program, {
      args,
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  } catch (error) {
    fail(`cannot start '${program}': ${(error as Error).message}`);
    return 127;
  }
  out(`roster: started '${command.join(" ")}' (pid ${child.pid})`);
  const exited = child.status.then((status) => ({ status }));
  const stopped = signals.stopped.then((signal) => ({ signal }));

  let health: HealthCheck | undefined;
  if (config.health) {
    health = new HealthCheck(config.health);
    health.on("check", (check) => metrics.recordCheck(check));
    health.start();
  }
  try {
    // Register once the child is healthy, unless it exits or we are told to
    // stop first.
    const healthy = health
      ? health.healthy().then(() => ({ healthy: true }))
      : Promise.resolve({ healthy: true });
    const first = await Promise.race([healthy, exited, stopped]);
    let instance: Instance | undefined;
    if ("healthy" in first) {
      instance = await register(registry, driver, metrics);
      if (!instance) {
        await terminate(child, "SIGTERM", config.killTimeout);
        return 1;
      }
      if (health) attachHealth(health, (status) => registry.setStatus(status));
    }
    const outcome = "healthy" in first
      ? await Promise.race([exited, stopped])
      : first;
    if ("signal" in outcome) {
      // Deregister first, so no one sends new work, then pass the signal on.
      const removed = await stopRegistry(registry);
      if (instance) {
        out(
          `roster: ${outcome.signal}: id=${instance.id} ${
            removed ? "deregistered" : "not deregistered"
          }; passing ${outcome.signal} to the command`,
        );
      }
      const status = await terminate(
        child,
        outcome.signal as Deno.Signal,
        config.killTimeout,
      );
      return exitCode(status);
    }
    await stopRegistry(registry);
    const code = exitCode(outcome.status);
    out(
      `roster: the command exited with ${code}${
        instance ? `; id=${instance.id} deregistered` : ""
      }`,
    );
    return code;
  } finally {
    await health?.stop();
  }
}

/** Sends `signal`, waits up to `timeout`, then kills. */
async function terminate(
  child: Deno.ChildProcess,
  signal: Deno.Signal,
  timeout: number,
): Promise<Deno.CommandStatus> {
  try {
    child.kill(signal);
  } catch { /* exited already */ }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) =>
    timer = setTimeout(() => resolve("late"), timeout)
  );
  const result = await Promise.race([child.status, late]);
  clearTimeout(timer);
  if (result !== "late") return result;
  fail(
    `the command did not exit within ${formatDuration(timeout)}; killing it`,
  );
  try {
    child.kill("SIGKILL");
  } catch { /* exited already */ }
  return await child.status;
}

function exitCode(status: Deno.CommandStatus): number {
  if (status.signal) return 128 + (SIGNAL_NUMBERS[status.signal] ?? 0);
  return status.code;
}
