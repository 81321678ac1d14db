import process from "node:process";
import { type Driver, Registry } from "../mod.ts";
import type { RunnerConfig } from "./config/config.ts";
import { createDriver } from "./create_driver.ts";

import { fail } from "./_output.ts";

/** Connects the config's driver, or reports why it cannot and returns nothing. */
export async function connect(
  config: RunnerConfig,
): Promise<Driver | undefined> {
  try {
    return await createDriver(config);
  } catch (error) {
    fail((error as Error).message);
    return undefined;
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
 * @returns The registry; stop it when done.
 */
export function discoveryRegistry(
  config: RunnerConfig,
  driver: Driver,
): Registry {
  return new Registry({
    driver,
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
