/**
 * Builds the driver a config names, through that driver's own config entry
 * (`drivers/<name>/config.ts`), which loads its client library only then.
 *
 * @module
 */

import type { Driver } from "../mod.ts";
import type { RunnerConfig } from "./config/config.ts";

/**
 * Creates the driver for a validated config.
 *
 * @param config The runner config.
 * @returns A connected driver; close it when done.
 * @throws {Error} When the backend cannot be reached.
 */
export function createDriver(config: RunnerConfig): Promise<Driver> {
  return config.driverConfig.connect(config.driverOptions, {
    heartbeatTimeout: config.resolved.heartbeatTimeout,
  });
}

/**
 * The driver the status server reads through: a connection of its own where
 * the backend is shared, so discovery reads never queue behind heartbeats;
 * the heartbeat's own driver where the registry lives in this process.
 *
 * @param config The runner config.
 * @param driver The heartbeat's driver.
 * @returns The driver to read with; close it when it is not `driver`.
 */
export async function createDiscoveryDriver(
  config: RunnerConfig,
  driver: Driver,
): Promise<Driver> {
  return config.driverConfig.shared ? await createDriver(config) : driver;
}
