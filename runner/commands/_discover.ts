/**
 * What the reading commands share: connecting, a registry that only
 * discovers, the stop signals, and printing instances.
 *
 * @module
 */

import process from "node:process";
import type { MeterProvider } from "@opentelemetry/api";
import {
  ConfigError,
  type Driver,
  formatDuration,
  type Instance,
  Registry,
} from "../../mod.ts";
import type { RunnerConfig } from "../config/config.ts";
import { createDriver } from "../create_driver.ts";
import { fail, note, out, type OutputFormat, useColor } from "../output.ts";
import { formatInstanceTable } from "../format_instances.ts";
import { isLate } from "../http/status_view.ts";

/** Connect failures that waiting does not mend. */
const PERMANENT =
  /WRONGPASS|NOAUTH|NOPERM|WRONGTYPE|invalid username|password authentication failed|ENOTFOUND|did not answer like/i;

/** Whether waiting cannot heal an error: it is thrown at once. */
function isPermanent(error: unknown): boolean {
  return error instanceof ConfigError ||
    PERMANENT.test((error as Error)?.message ?? String(error));
}

/** Set once a read command's time is up and it said so: nothing more is printed. */
let timedOut = false;

/** The last failure of a connect or a read, for the line a timeout prints. */
let lastFailure: string | undefined;

/**
 * Notes a failure seen meanwhile (a view that could not read, say), for
 * the line {@linkcode withinTimeout} prints when the time is up.
 *
 * @param error What failed.
 */
export function noteFailure(error: unknown): void {
  lastFailure = (error as Error)?.message ?? String(error);
}

/**
 * Connects the config's driver, or reports why it cannot and returns
 * nothing. With `within`, a failed connect is tried again (backing off from
 * 100 ms to 1 s) until that many ms have passed: a read command started
 * during a short outage or pause waits it out.
 *
 * @param config The config: where to connect.
 * @param within How long to keep trying, in ms; once when undefined.
 * @returns The driver, or undefined after saying why.
 */
export async function connect(
  config: RunnerConfig,
  within?: number,
): Promise<Driver | undefined> {
  try {
    // Refused credentials, a wrong name or a port that speaks another
    // protocol do not heal by waiting.
    return await readWithin(within ?? 0, () => createDriver(config));
  } catch (error) {
    if (!timedOut) fail((error as Error)?.message ?? String(error));
    return undefined;
  }
}

/**
 * Runs a read command, giving up once `timeout` ms have passed, however far
 * it got (a connect that waits for a paused server included): exit 1, with
 * one line saying so.
 *
 * @param what The command, for the line.
 * @param timeout Its `--timeout`, in ms.
 * @param run The command.
 * @returns Its exit code, or 1 once the time is up.
 */
export async function withinTimeout(
  what: string,
  timeout: number,
  run: () => Promise<number>,
): Promise<number> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), timeout);
  });
  const result = await Promise.race([run(), late]);
  clearTimeout(timer);
  if (result !== "late") return result;
  timedOut = true;
  fail(
    `'${what}' could not read the registry within ${formatDuration(timeout)}: ${
      lastFailure ?? "the backend did not answer in time"
    }; try a longer --timeout`,
  );
  return 1;
}

/**
 * Runs a read, trying it again (backing off from 100 ms to 1 s) until it
 * succeeds or `within` ms have passed; then its last error is thrown.
 *
 * @param within How long to keep trying, in ms.
 * @param read The read.
 * @param final Whether an error is one that waiting cannot heal (refused
 *   credentials, a wrong name, a key of the wrong type): thrown at once.
 * @returns What the read returned.
 */
export async function readWithin<T>(
  within: number,
  read: () => Promise<T>,
  final: (error: unknown) => boolean = isPermanent,
): Promise<T> {
  const deadline = Date.now() + within;
  for (let delay = 100;; delay = Math.min(delay * 2, 1_000)) {
    try {
      return await read();
    } catch (error) {
      noteFailure(error);
      const left = deadline - Date.now();
      if (left <= 0 || final(error)) throw error;
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(delay, left))
      );
    }
  }
}

/** The stop signals of a command. */
export type StopSignals = Disposable & {
  /** Resolves with the first signal's name, or the reason of a request. */
  stopped: Promise<string>;
  /** Aborts on the first signal. */
  controller: AbortController;
  /** Stops as a first signal would, for `reason` (a `roster drain` request). */
  request(reason: string): void;
};

/** How long a second signal's last work may take before the exit. */
const SECOND_SIGNAL_MS = 1_000;

/**
 * Listens for SIGTERM, SIGINT and SIGHUP: the first resolves `stopped` with
 * the signal's name; a second calls `onSecond` (given a second at most), then
 * exits with 130; a third exits at once.
 * Dispose to stop listening.
 *
 * @param options `onSecond`: what to do before exiting on a second signal.
 * @returns The signals.
 */
export function stopSignals(
  options: { onSecond?: () => void | Promise<void> } = {},
): StopSignals {
  const controller = new AbortController();
  let resolve!: (signal: string) => void;
  const stopped = new Promise<string>((done) => resolve = done);
  let signals = 0;
  const on = (signal: NodeJS.Signals) => () => {
    if (++signals > 1) {
      if (signals > 2) process.exit(130);
      fail(`second ${signal}: exiting without waiting`);
      // What it does on the way out gets a second at most.
      const bound = new Promise((done) => setTimeout(done, SECOND_SIGNAL_MS));
      Promise.race([Promise.resolve(options.onSecond?.()), bound])
        .catch(() => {}).finally(() => process.exit(130));
      return;
    }
    resolve(signal);
    controller.abort();
  };
  const request = (reason: string) => {
    if (++signals > 1) return;
    resolve(reason);
    controller.abort();
  };
  const handlers = (["SIGTERM", "SIGINT", "SIGHUP"] as const).map((
    signal,
  ) => [signal, on(signal)] as const);
  for (const [signal, handler] of handlers) process.on(signal, handler);
  return {
    stopped,
    controller,
    request,
    [Symbol.dispose]() {
      for (const [signal, handler] of handlers) process.off(signal, handler);
    },
  };
}

/**
 * A registry that only reads: the config's env and timing, no service.
 *
 * @param config The runner config.
 * @param driver The driver to read through.
 * @param options Where its metrics go (the runner's /metrics), and whether
 *   it answers from a local, watched view (`cache`).
 * @returns The registry; stop it when done.
 */
export function discoveryRegistry(
  config: RunnerConfig,
  driver: Driver,
  options: { meterProvider?: MeterProvider; cache?: boolean } = {},
): Registry {
  return new Registry({
    driver,
    meterProvider: options.meterProvider,
    cache: options.cache,
    env: config.resolved.env,
    ttl: config.resolved.ttl,
    heartbeatInterval: config.resolved.heartbeatInterval,
    protection: config.resolved.protection ?? false,
  });
}

/**
 * A host as it goes in a URL: an IPv6 address in brackets.
 *
 * @param hostname A name or an address.
 * @returns It, ready for `http://HOST:PORT/`.
 */
export function hostForUrl(hostname: string): string {
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}

/**
 * Runs `body` with a discovery-only registry, closing everything after; a
 * failure is one line on stderr and exit code 1.
 *
 * @param config The config: where to read.
 * @param body What to do.
 * @param options `within`: how long connecting may be tried, in ms.
 * @returns The exit code.
 */
export async function discover(
  config: RunnerConfig,
  body: (registry: Registry, driver: Driver) => Promise<number>,
  options: { within?: number } = {},
): Promise<number> {
  if (!config.driverConfig.shared) {
    note(
      `note: the ${config.driver} driver lives inside one process, so this command sees no other process; use driver = "redis" to share a registry`,
    );
  }
  const driver = await connect(config, options.within);
  if (!driver) return 1;
  const registry = discoveryRegistry(config, driver);
  try {
    return await body(registry, driver);
  } catch (error) {
    // One line, never a trace: a refused command (a wrong-type key, an
    // out-of-memory reply) is the operator's to fix, not a crash. (Once the
    // time is up, that was said already.)
    if (!timedOut) fail((error as Error)?.message ?? String(error));
    return 1;
  } finally {
    await registry.stop();
    await driver.close();
  }
}

/**
 * Prints instances as a table, a wide table or JSON.
 *
 * @param instances The instances.
 * @param format How.
 * @param where The env (and service) read, named when none is live, and
 *   the other envs that have live instances, if known.
 */
export function printInstances(
  instances: Instance[],
  format: OutputFormat,
  where?: { env: string; service?: string; otherEnvs?: string[] },
): void {
  const now = Date.now();
  if (format === "json") {
    out(JSON.stringify(
      instances.map((i) => ({ ...i, late: isLate(i, now) })),
      null,
      2,
    ));
  } else if (instances.length === 0) {
    // Name what was read: the instances may well be in another env.
    const others = where?.otherEnvs?.map((env) => `'${env}'`).join(", ");
    out(
      where
        ? `no live instances${
          where.service ? ` of '${where.service}'` : ""
        } in env '${where.env}'; ${
          others
            ? `env(s) ${others} have ${
              where.service ? `'${where.service}'` : "live instances"
            }: read one with --env NAME`
            : "another env is read with --env NAME"
        }`
        : "no live instances",
    );
  } else {
    out(
      formatInstanceTable(instances, {
        now,
        wide: format === "wide",
        color: useColor(),
      }).trimEnd(),
    );
  }
}
