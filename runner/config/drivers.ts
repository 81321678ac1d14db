/**
 * The drivers the runner can build: one line per driver. Each driver's
 * `config.ts` owns its `[cluster.<name>]` table, its environment overrides
 * (`ROSTER_<NAME>_<KEY>`) and how it connects, and loads its client library
 * only when a config names it.
 *
 * @module
 */

import type { DriverConfig } from "../../contract/driver_config.ts";
import { memoryConfig } from "../../drivers/memory/config.ts";
import { redisConfig } from "../../drivers/redis/config.ts";
import { postgresConfig } from "../../drivers/postgres/config.ts";
import { etcdConfig } from "../../drivers/etcd/config.ts";

/** Every driver's config entry; the first is the default. */
export const DRIVER_CONFIGS: readonly DriverConfig[] = [
  memoryConfig,
  redisConfig,
  postgresConfig,
  etcdConfig,
] as DriverConfig[];

/** The names `driver` takes. */
export const DRIVER_NAMES: readonly string[] = DRIVER_CONFIGS.map((d) =>
  d.name
);

/**
 * The config entry of a driver.
 *
 * @param name Its name.
 * @returns The entry, or undefined for a name no driver has.
 */
export function driverConfig(name: string): DriverConfig | undefined {
  return DRIVER_CONFIGS.find((d) => d.name === name);
}
