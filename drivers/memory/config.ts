/**
 * The memory driver's config entry: `driver = "memory"` (the default) takes
 * no table; what it stores lives and dies with the process.
 *
 * @module
 */

import type { ConfigTable } from "../../contract/config_table.ts";
import type { DriverConfig } from "../../contract/driver_config.ts";
import type { Driver } from "../../contract/driver.ts";
import { MemoryDriver } from "./mod.ts";

/** The memory driver's entry in the runner's driver table. */
export const memoryConfig: DriverConfig<Record<never, never>> = {
  name: "memory",
  shared: false,
  keys: [],
  parse(_table: ConfigTable): Record<never, never> {
    return {};
  },
  connect(): Promise<Driver> {
    return Promise.resolve(new MemoryDriver());
  },
};
