import { type Driver, Registry } from "../mod.ts";
import type { RunnerConfig } from "./config.ts";
import { createDriver } from "./create_driver.ts";

/** Writes a line to stdout. */
export function out(line: string): void {
  console.log(line);
}

/** Writes an error line to stderr. */
export function fail(message: string): void {
  console.error(`roster: ${message}`);
}

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

/**
 * Listens for SIGTERM and SIGINT: the first resolves `stopped` with the
 * signal's name, a second exits at once with 130. Dispose to stop listening.
 */
export function stopSignals(): Disposable & {
  stopped: Promise<string>;
  controller: AbortController;
} {
  const controller = new AbortController();
  const stopped = Promise.withResolvers<string>();
  let signals = 0;
  const on = (signal: Deno.Signal) => () => {
    if (++signals > 1) {
      fail(`second ${signal}: exiting without waiting`);
      Deno.exit(130);
    }
    stopped.resolve(signal);
    controller.abort();
  };
  const handlers = [["SIGTERM", on("SIGTERM")], [
    "SIGINT",
    on("SIGINT"),
  ]] as const;
  for (const [signal, handler] of handlers) {
    Deno.addSignalListener(signal, handler);
  }
  return {
    stopped: stopped.promise,
    controller,
    [Symbol.dispose]() {
      for (const [signal, handler] of handlers) {
        Deno.removeSignalListener(signal, handler);
      }
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
