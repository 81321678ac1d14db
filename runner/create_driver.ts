/**
 * Builds the driver a config names. Each driver validates its own table, so
 * backend details stay with the driver.
 *
 * @module
 */

import type { Driver } from "../driver.ts";
import { MemoryDriver } from "../drivers/memory.ts";
import { RedisDriver } from "../drivers/redis.ts";
import type { RunnerConfig } from "./config.ts";

/**
 * Creates the driver for a validated config.
 *
 * @param config The runner config.
 * @returns A connected driver; close it when done.
 * @throws {Error} When the backend cannot be reached.
 */
export async function createDriver(config: RunnerConfig): Promise<Driver> {
  switch (config.driver) {
    case "memory":
      return new MemoryDriver();
    case "redis":
      return await RedisDriver.connect({
        ...config.redis,
        // A command may take no longer than a heartbeat may.
        commandTimeout: config.resolved.heartbeatTimeout,
      });
  }
}
