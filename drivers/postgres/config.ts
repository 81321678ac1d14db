/**
 * The `[cluster.postgres]` table: where PostgreSQL is, and the schema.
 * The URL (and its password) can come from `ROSTER_POSTGRES_URL`, and no
 * error ever shows a password.
 *
 * @module
 */

import type { ConfigTable } from "../../contract/config_table.ts";
import {
  type DriverConfig,
  loadDriverModule,
} from "../../contract/driver_config.ts";
import type { Driver } from "../../contract/driver.ts";
import { redactUrl } from "../../contract/redact_url.ts";
import type { PostgresConnectOptions } from "./mod.ts";
import { SCHEMA_NAME } from "./_schema.ts";

const KEYS = ["url", "schema"] as const;

/** The PostgreSQL driver's entry in the runner's driver table. */
export const postgresConfig: DriverConfig<PostgresConnectOptions> = {
  name: "postgres",
  shared: true,
  keys: KEYS,
  parse: parsePostgresTable,
  async connect(options, timing): Promise<Driver> {
    const { PostgresDriver } = await loadDriverModule(
      "postgres",
      "pg",
      () => import("./mod.ts"),
    );
    return await PostgresDriver.connect({
      ...options,
      connectTimeout: Math.max(timing.heartbeatTimeout, 1_000),
    });
  },
};

/**
 * Validates a `[cluster.postgres]` table.
 *
 * @param read The table, with environment overrides merged in.
 * @returns Connection options for `PostgresDriver.connect`.
 * @throws {ConfigError} Naming the key and the fix.
 */
function parsePostgresTable(read: ConfigTable): PostgresConnectOptions {
  const url = read.text("url", { secret: true });
  if (url !== undefined && !/^postgres(ql)?:\/\//.test(url)) {
    read.fail(
      "url",
      "Invalid 'postgres.url': it must start with postgres:// or postgresql://, such as \"postgres://roster@127.0.0.1:5432/app\"",
    );
  }
  if (url !== undefined && !URL.canParse(url)) {
    read.fail(
      "url",
      `Invalid 'postgres.url': '${
        redactUrl(url)
      }' cannot be parsed; write it as postgres://user:password@host:5432/db, with a port from 1 to 65535 and an IPv6 host in brackets`,
    );
  }
  const schema = read.text("schema");
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
    read.fail(
      "schema",
      `Invalid 'postgres.schema': '${schema}' must be lower-case letters, digits or '_' (at most 41), starting with a letter or '_'`,
    );
  }
  return {
    ...(url === undefined ? {} : { url }),
    ...(schema === undefined ? {} : { schema }),
  };
}
