/**
 * Builds the driver a config names. Each driver validates its own table, so
 * backend details stay with the driver; the Redis, PostgreSQL and etcd
 * drivers (and their client libraries) are loaded only when a config asks for them.
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
    case "postgres": {
      const { PostgresDriver } = await import("../drivers/postgres/mod.ts");
      return await PostgresDriver.connect({
        ...config.postgres,
        connectTimeout: Math.max(config.resolved.heartbeatTimeout, 1_000),
      });
    }
    case "etcd": {
      // etcd3 pulls in gRPC: loaded only when chosen.
      const { EtcdDriver } = await import("../drivers/etcd/mod.ts");
      return await EtcdDriver.connect({
        ...config.etcd,
        requestTimeout: Math.max(config.resolved.heartbeatTimeout, 1_000),
      });
    }
  }
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
  return config.driver === "memory" ? driver : await createDriver(config);
}
