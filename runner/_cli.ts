import process from "node:process";
import { type Driver, Registry } from "../mod.ts";
import type { RunnerConfig } from "./config.ts";
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
  /** Resolves with the first signal's name. */
  stopped: Promise<string>;
  /** Aborts on the first signal. */
  controller: AbortController;
};

/**
 * Listens for SIGTERM, SIGINT and SIGHUP: the first resolves `stopped` with
 * the signal's name; a second calls `onSecond`, then exits at once with 130.
 * Dispose to stop listening.
 *
 * @param options `onSecond`: what to do before exiting on a second signal.
 * @returns The signals.
 */
export function stopSignals(
  options: { onSecond?: () => void } = {},
): StopSignals {
  const controller = new AbortController();
  let resolve!: (signal: string) => void;
  const stopped = new Promise<string>((done) => resolve = done);
  let signals = 0;
  const on = (signal: NodeJS.Signals) => () => {
    if (++signals > 1) {
      fail(`second ${signal}: exiting without waiting`);
      options.onSecond?.();
      process.exit(130);
    }
    resolve(signal);
    controller.abort();
  };
  const handlers = (["SIGTERM", "SIGINT", "SIGHUP"] as const).map((
    signal,
  ) => [signal, on(signal)] as const);
  for (const [signal, handler] of handlers) process.on(signal, handler);
  return {
    stopped,
    controller,
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
