/**
 * Builds the driver a config names. Each driver validates its own table, so
 * backend details stay with the driver.
 *
 * @module
 */

import type { Driver } from "../driver.ts";
import { MemoryDriver } from "../drivers/memory.ts";
import type { RunnerConfig } from "./config.ts";

/**
 * Creates the driver for a validated config.
 *
 * @param config The runner config.
 * @returns A connected driver; close it when done.
 * @throws {ConfigError} When the driver's own table is invalid.
 */
export function createDriver(config: RunnerConfig): Promise<Driver> {
  switch (config.driver) {
    case "memory":
      return Promise.resolve(new MemoryDriver());
    case "redis":
      throw new Error("The redis driver is not built yet");
  }
}
