/**
 * A watching process for Redis tests: a driver on a connection of its own,
 * a registry, and every event its watch of the api service saw.
 *
 * @module
 */

import { Registry } from "../../../mod.ts";
import { RedisDriver } from "../../../drivers/redis/mod.ts";
import { collect } from "../../discovery/_discovery_suite.ts";

/** What the watcher's driver and registry are given. */
export interface WatcherOptions {
  /** The env watched; the registry's default when left out. */
  env?: string;
  /** The driver's command timeout, in ms. */
  commandTimeout?: number;
  /** The registry's heartbeat interval, in ms. */
  heartbeatInterval: number;
  /** The registry's ttl, in ms. */
  ttl: number;
}

/**
 * Starts watching the api service (current instances first) on a driver
 * of its own; disposing of it stops the watch and closes the driver.
 *
 * @param url The Redis URL.
 * @param options The env, command timeout, interval and ttl.
 * @returns The driver, the events seen, and a disposer.
 */
export async function startWatcher(url: string, options: WatcherOptions) {
  const { env, commandTimeout, heartbeatInterval, ttl } = options;
  const driver = await RedisDriver.connect(
    commandTimeout === undefined ? { url } : { url, commandTimeout },
  );
  const registry = new Registry({
    driver,
    ...(env === undefined ? {} : { env }),
    heartbeatInterval,
    ttl,
  });
  const controller = new AbortController();
  const seen = collect(
    registry.watch("api", { current: true, signal: controller.signal }),
  );
  return {
    driver,
    seen,
    async [Symbol.asyncDispose]() {
      controller.abort();
      await seen.done;
      await registry.stop();
      await driver.close();
    },
  };
}
