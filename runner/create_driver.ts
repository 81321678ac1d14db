/**
 * Builds the driver a config names. Each driver validates its own table, so
 * backend details stay with the driver; the Redis driver (and its client
 * library) is loaded only when a config asks for it.
 *
 * @module
 */

import type { Driver } from "../mod.ts";
import { MemoryDriver } from "../drivers/memory.ts";
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
    case "redis": {
      const { RedisDriver } = await import("../drivers/redis/mod.ts");
      return await RedisDriver.connect({
        ...config.redis,
        // A command may take no longer than a heartbeat may.
        commandTimeout: config.resolved.heartbeatTimeout,
      });
    }
  }
}
