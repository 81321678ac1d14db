/**
 * `roster run`: register this process, or a child process in sidecar mode,
 * and heartbeat until told to stop.
 *
 * @module
 */

import {
  AlreadyRegisteredError,
  attachHealth,
  ConfigError,
  type Driver,
  formatDuration,
  HealthCheck,
  type Instance,
  Registry,
} from "../../mod.ts";
import {
  connect,
  discoveryRegistry,
  hostForUrl,
  type StopSignals,
  stopSignals,
} from "./_discover.ts";
import { fail, report } from "../output.ts";
import { readInstanceRequest } from "../instance_requests.ts";
import type { ChildGroup } from "./child_group.ts";
import { createDiscoveryDriver, createDriver } from "../create_driver.ts";
import { serveDns } from "./dns.ts";
import type { RunnerConfig } from "../config/config.ts";
import { RunnerMetrics } from "../http/metrics.ts";
import type { StatusServer } from "../http/status_server.ts";
import type { Command } from "./command.ts";

/**
 * Without a health check, a sidecar's child must stay up this long before
 * it is registered: a command that exits at once is never listed.
 */
export const START_GRACE_MS = 500;

/** The longest wait between attempts to reach the backend. */
const MAX_RETRY_MS = 5_000;

/**
 * Registers, prints one startup line, heartbeats, and on SIGTERM, SIGINT,
 * SIGHUP or a `roster drain` request drains: the instance is listed as
 * `draining` for `drain_timeout` (or the request's linger), then
 * deregisters within the stop timeout. With a command it is a sidecar: it
 * starts the command at once (even while the backend is down), registers it
 * once it is healthy and the backend answers, and on a stop drains, passes
 * the signal on to its process group, waits for it, deregisters, and exits
 * with the command's exit code.
 *
 * @param config A validated config with a service.
 * @param command The child command and its arguments, in sidecar mode.
 * @returns The exit code.
 */
async function run(
  config: RunnerConfig,
  command?: string[],
): Promise<number> {
  const sidecar = command !== undefined && command.length > 0;
  let child: ChildGroup | undefined;
  const running: { registry?: Registry } = {};
  using signals = stopSignals({
    // A second signal kills the child's whole group rather than leave a
    // child that ignores SIGTERM running, and deregisters on the way out.
    onSecond: () => {
      child?.kill("SIGKILL");
      return running.registry?.stop();
    },
  });
  let requestedLinger: number | undefined;
  const stop: Stop = {
    signals,
    linger: () => requestedLinger ?? config.drainTimeout,
    onDrain: (linger) => {
      requestedLinger = linger;
      signals.request("a drain request");
    },
  };
  if (sidecar) {
    child = await startChild(command, config);
    if (!child) return 127;
  }
  const driver = sidecar
    ? await connectWhileRunning(config, child!, signals)
    : await connect(config);
  if (!driver) {
    if (!child) return 1;
    // Stopped, or the child exited, before the backend ever answered.
    return await finishUnregistered(child, signals, config);
  }
  const metrics = new RunnerMetrics();
  // Run mode checks this process; a sidecar checks its child, below.
  const registry = running.registry = new Registry({
    ...config.options,
    driver,
    health: sidecar ? undefined : config.health,
    meterProvider: metrics.provider,
  });
  trackDeregistration(registry);
  metrics.follow(registry);
  let server: StatusServer | undefined;
  let reader: Driver | undefined;
  let discovery: Registry | undefined;
  let dns: { shutdown(): Promise<void> } | undefined;
  try {
    if (config.http) {
      const served = await serveStatus(config, driver, metrics);
      if (!served) {
        await child?.terminate("SIGTERM");
        return 1;
      }
      ({ server, reader, discovery } = served);
    }
    if (config.dns) {
      reader ??= await createDiscoveryDriver(config, driver);
      dns = await serveDns(config, reader);
      if (!dns) {
        await child?.terminate("SIGTERM");
        return 1;
      }
    }
    return child
      ? await runSidecar(config, child, registry, driver, stop, metrics)
      : await runSelf(registry, driver, stop, metrics);
  } finally {
    try {
      await registry.stop();
      await server?.shutdown();
      await dns?.shutdown();
      await discovery?.stop();
      if (reader !== driver) await reader?.close();
      await driver.close();
    } finally {
      // Even when a close failed: a guard left running would signal the
      // child's group after the runner is gone.
      await child?.release();
    }
  }
}

/** Starts a sidecar's command in its own process group; says why it cannot. */
async function startChild(
  command: string[],
  config: RunnerConfig,
): Promise<ChildGroup | undefined> {
  let child: ChildGroup;
  try {
    // Loaded only for a sidecar, as the status server only when served:
    // a plain run keeps its footprint small.
    const { startChildGroup } = await import("./child_group.ts");
    child = await startChildGroup(command, config.killTimeout);
  } catch (error) {
    fail(`cannot start '${command[0]}': ${(error as Error).message}`);
    return undefined;
  }
  report(
    "started",
    `started '${command.join(" ")}' (pid ${child.pid}, its own process group)`,
    { command, pid: child.pid },
  );
  return child;
}

/**
 * Starts the status server on a discovery registry of its own (its own
 * connection where the backend is shared); says why it cannot.
 */
async function serveStatus(
  config: RunnerConfig,
  driver: Driver,
  metrics: RunnerMetrics,
): Promise<
  { server: StatusServer; reader: Driver; discovery: Registry } | undefined
> {
  const http = config.http!;
  const { describeListenError, startStatusServer } = await import(
    "../http/status_server.ts"
  );
  let reader: Driver | undefined;
  let discovery: Registry | undefined;
  try {
    reader = await createDiscoveryDriver(config, driver);
    discovery = discoveryRegistry(config, reader, {
      meterProvider: metrics.provider,
    });
    const server = await startStatusServer(
      http,
      discovery,
      metrics,
      metrics.self,
    );
    metrics.served = true;
    const url = `http://${hostForUrl(http.hostname)}:${server.port}/`;
    report("serving", `status server on ${url}`, { url });
    return { server, reader, discovery };
  } catch (error) {
    fail(describeListenError(error, http));
    await discovery?.stop();
    if (reader !== driver) await reader?.close();
    return undefined;
  }
}

/**
 * Connects a sidecar's driver, retrying with backoff while the child runs:
 * the child starts whether or not the backend answers. Says once that it is
 * waiting, and once that the backend is back.
 */
async function connectWhileRunning(
  config: RunnerConfig,
  child: ChildGroup,
  signals: StopSignals,
): Promise<Driver | undefined> {
  let delay = 250;
  let lastError = "";
  while (!signals.controller.signal.aborted && !child.hasExited) {
    try {
      const driver = await createDriver(config);
      if (lastError) {
        report("reachable", `the ${config.driver} backend answers again`, {
          driver: config.driver,
        });
      }
      return driver;
    } catch (error) {
      const message = (error as Error)?.message ?? String(error);
      if (message !== lastError) {
        fail(
          `${message}; the command runs unregistered, and roster registers it as soon as the backend answers`,
        );
        lastError = message;
      }
    }
    await Promise.race([
      new Promise((resolve) => setTimeout(resolve, delay)),
      child.exited,
      signals.stopped,
    ]);
    delay = Math.min(delay * 2, MAX_RETRY_MS);
  }
  return undefined;
}

/** Ends a sidecar that never registered: passes the signal on, or reports the exit. */
async function finishUnregistered(
  child: ChildGroup,
  signals: StopSignals,
  config: RunnerConfig,
): Promise<number> {
  try {
    const outcome = await Promise.race([
      child.exited.then((code) => ({ code })),
      signals.stopped.then((signal) => ({ signal })),
    ]);
    if ("signal" in outcome) {
      return await child.terminate(outcome.signal, config.killTimeout);
    }
    report(
      "exited",
      `the command exited with ${outcome.code} before it was registered`,
      { code: outcome.code, registered: false },
    );
    return outcome.code;
  } finally {
    await child.release();
  }
}

/** How a run stops: on a signal or a drain request, after a linger. */
interface Stop {
  signals: StopSignals;
  /** How long to stay listed as draining: the request's, or drain_timeout. */
  linger(): number;
  /** Takes a `roster drain` request, with the linger it asks for. */
  onDrain(linger: number | undefined): void;
}

async function register(
  registry: Registry,
  driver: Driver,
  metrics: RunnerMetrics,
  stop: Stop,
): Promise<Instance | undefined> {
  let instance: Instance;
  try {
    instance = await registry.start();
  } catch (error) {
    fail(
      error instanceof AlreadyRegisteredError
        ? error.message
        : `cannot register with the ${driver.name} driver: ${
          (error as Error)?.message ?? error
        }`,
    );
    return undefined;
  }
  // `roster drain` and `roster maintenance` reach the runner by a message;
  // a backend without pub/sub has none, and they say so.
  await registry.onMessage((message) => {
    metrics.messageReceived();
    const request = readInstanceRequest(message.data);
    if (request?.kind === "drain") stop.onDrain(request.linger);
    else if (request?.kind === "maintenance") {
      registry.setMaintenance(
        request.on,
        request.ttl === undefined ? {} : { ttl: request.ttl },
      ).catch((error) =>
        fail(
          `cannot ${request.on ? "enter" : "leave"} maintenance: ${
            (error as Error).message
          }`,
        )
      );
    }
  }).catch(() => {});
  const interval = formatDuration(registry.heartbeatInterval);
  const ttl = formatDuration(registry.ttl);
  report(
    "registered",
    `registered id=${instance.id} service=${instance.service} env=${instance.env} driver=${driver.name} interval=${interval} ttl=${ttl} seq=${instance.seq}`,
    {
      id: instance.id,
      service: instance.service,
      env: instance.env,
      driver: driver.name,
      interval,
      ttl,
      seq: instance.seq,
    },
  );
  return instance;
}

/** Whether each registry's stop removed its entry, whoever stopped it. */
const deregistered = new WeakMap<Registry, boolean>();

/** Records whether the registry's stop removed its entry. */
function trackDeregistration(registry: Registry): void {
  registry.on("deregistered", ({ removed }) => {
    deregistered.set(registry, removed);
  });
}

/**
 * Stops the registry, or waits for the stop a second signal began, and
 * says whether its entry was removed.
 */
async function stopRegistry(registry: Registry): Promise<boolean> {
  await registry.stop();
  return deregistered.get(registry) ?? false;
}

/**
 * Marks the instance draining (the backend records it first) and keeps it
 * listed so for the linger: clients stop sending it work meanwhile.
 */
async function drain(
  registry: Registry,
  instance: Instance,
  reason: string,
  linger: number,
): Promise<void> {
  report(
    "draining",
    `${reason}: id=${instance.id} is draining and takes no new work${
      linger > 0 ? `; it stays listed so for ${formatDuration(linger)}` : ""
    }`,
    { reason, id: instance.id, linger },
  );
  await registry.drain({ linger, stop: false }).catch(() => {});
}

async function runSelf(
  registry: Registry,
  driver: Driver,
  stop: Stop,
  metrics: RunnerMetrics,
): Promise<number> {
  const instance = await register(registry, driver, metrics, stop);
  if (!instance) return 1;
  const signal = await stop.signals.stopped;
  await drain(registry, instance, signal, stop.linger());
  const removed = await stopRegistry(registry);
  report(
    "stopped",
    `stopped on ${signal}; id=${instance.id} ${
      removed ? "deregistered" : "not deregistered (it expires with its ttl)"
    }`,
    { signal, id: instance.id, deregistered: removed },
  );
  return 0;
}

async function runSidecar(
  config: RunnerConfig,
  child: ChildGroup,
  registry: Registry,
  driver: Driver,
  stop: Stop,
  metrics: RunnerMetrics,
): Promise<number> {
  const exited = child.exited.then((code) => ({ code }));
  const stopped = stop.signals.stopped.then((signal) => ({ signal }));
  let health: HealthCheck | undefined;
  if (config.health) {
    health = new HealthCheck(config.health);
    health.on("check", (check) => metrics.recordCheck(check));
    health.start();
  }
  let grace: ReturnType<typeof setTimeout> | undefined;
  try {
    // Register once the child is healthy (or, without a check, has stayed
    // up a moment), unless it exits or we are told to stop first.
    const ready = health
      ? health.healthy().then(() => ({ ready: true }))
      : new Promise<{ ready: true }>((resolve) => {
        grace = setTimeout(() => resolve({ ready: true }), START_GRACE_MS);
      });
    let first = await Promise.race([ready, exited, stopped]);
    let instance: Instance | undefined;
    // Keep trying while the backend refuses: the child runs meanwhile.
    for (let delay = 250; "ready" in first && !child.hasExited;) {
      instance = await register(registry, driver, metrics, stop);
      if (instance) break;
      if (registry.state === "stopped") {
        await child.terminate("SIGTERM", config.killTimeout);
        return 1;
      }
      first = await Promise.race([
        new Promise<{ ready: true }>((resolve) =>
          setTimeout(() => resolve({ ready: true }), delay)
        ),
        exited,
        stopped,
      ]);
      delay = Math.min(delay * 2, MAX_RETRY_MS);
    }
    if (instance && health) {
      attachHealth(health, (status) => registry.setStatus(status));
    }
    const outcome = "ready" in first
      ? await Promise.race([exited, stopped])
      : first;
    if ("signal" in outcome) {
      return await stopSidecar(
        config,
        child,
        registry,
        instance,
        stop,
        outcome.signal,
      );
    }
    await stopRegistry(registry);
    // What the command started and left behind stops with it.
    await child.terminate("SIGTERM", config.killTimeout);
    report(
      "exited",
      `the command exited with ${outcome.code}${
        instance
          ? `; id=${instance.id} deregistered`
          : " before it was registered"
      }`,
      {
        code: outcome.code,
        registered: instance !== undefined,
        ...(instance ? { id: instance.id } : {}),
      },
    );
    return outcome.code;
  } finally {
    clearTimeout(grace);
    await health?.stop();
  }
}

/**
 * Stops a sidecar on a signal or a drain request: drains first, so no one
 * sends new work while the command finishes what it has, passes the signal
 * on, and deregisters once the command exited.
 *
 * @returns The command's exit code.
 */
async function stopSidecar(
  config: RunnerConfig,
  child: ChildGroup,
  registry: Registry,
  instance: Instance | undefined,
  stop: Stop,
  reason: string,
): Promise<number> {
  const signal = reason.startsWith("SIG") ? reason : "SIGTERM";
  if (!instance) return await child.terminate(signal, config.killTimeout);
  await drain(registry, instance, reason, stop.linger());
  report(
    "stopping",
    `passing ${signal} to the command; id=${instance.id} stays listed as draining until it exits`,
    { signal, id: instance.id },
  );
  const code = await child.terminate(signal, config.killTimeout);
  const removed = await stopRegistry(registry);
  report(
    "stopped",
    `the command exited with ${code}; id=${instance.id} ${
      removed ? "deregistered" : "not deregistered (it expires with its ttl)"
    }`,
    { code, id: instance.id, deregistered: removed },
  );
  return code;
}

/** `roster run` (the default command). */
export const runCommand: Command = {
  usage: "roster [run] --config FILE [-- COMMAND [ARGS...]]",
  summary:
    "register this process and heartbeat until SIGTERM, SIGINT, SIGHUP or a roster drain request, then drain for drain_timeout and deregister; with a COMMAND, run it as a sidecar: register it once healthy; on a stop drain, pass the signal on, wait for it, deregister, and exit with its code",
  flags: [],
  example: "roster run --config cluster.toml -- node server.js",
  needsFile: true,
  takesCommand: true,
  check({ config }) {
    if (config.resolved.service === undefined) {
      throw new ConfigError(
        `'${config.file}': 'service' is required to register; add service = "api" to [cluster]`,
        { file: config.file, field: "service" },
      );
    }
  },
  run: (o) => run(o.config, o.command),
};
