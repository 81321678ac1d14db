/**
 * The `[cluster.etcd]` table: the endpoints, credentials and key prefix.
 * The password can come from `ROSTER_ETCD_PASSWORD`, and no error ever
 * shows it.
 *
 * @module
 */

import type { ConfigTable } from "../../contract/config_table.ts";
import {
  type DriverConfig,
  loadDriverModule,
} from "../../contract/driver_config.ts";
import type { Driver } from "../../contract/driver.ts";
import type { EtcdConnectOptions } from "./mod.ts";

const KEYS = ["endpoints", "username", "password", "prefix"] as const;
const ENDPOINT = /^https?:\/\/[^\s/]+(:\d{1,5})?\/?$/;

/** The etcd driver's entry in the runner's driver table. */
export const etcdConfig: DriverConfig<EtcdConnectOptions> = {
  name: "etcd",
  shared: true,
  keys: KEYS,
  parse: parseEtcdTable,
  async connect(options, timing): Promise<Driver> {
    // etcd3 pulls in gRPC: loaded only when chosen.
    const { EtcdDriver } = await loadDriverModule(
      "etcd",
      "etcd3",
      () => import("./mod.ts"),
    );
    return await EtcdDriver.connect({
      ...options,
      requestTimeout: Math.max(timing.heartbeatTimeout, 1_000),
    });
  },
};

/**
 * Validates a `[cluster.etcd]` table.
 *
 * @param read The table, with environment overrides merged in.
 * @returns Connection options for `EtcdDriver.connect`.
 * @throws {ConfigError} Naming the key and the fix.
 */
function parseEtcdTable(read: ConfigTable): EtcdConnectOptions {
  const endpoints = read.list(
    "endpoints",
    ENDPOINT,
    'URLs, such as ["http://127.0.0.1:2379"]',
  );
  const username = read.text("username");
  const password = read.text("password", { secret: true });
  if ((username === undefined) !== (password === undefined)) {
    read.fail(
      username === undefined ? "username" : "password",
      "Invalid 'etcd': set both 'username' and 'password', or neither",
    );
  }
  const prefix = read.text("prefix");
  return {
    ...(endpoints === undefined ? {} : { endpoints }),
    ...(username && password ? { auth: { username, password } } : {}),
    ...(prefix === undefined ? {} : { prefix }),
  };
}
