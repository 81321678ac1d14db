/**
 * The `[cluster.postgres]` table: where PostgreSQL is, and the schema.
 * The URL (and its password) can come from `ROSTER_POSTGRES_URL`, and no
 * error ever shows a password.
 *
 * @module
 */

import type { PostgresConnectOptions } from "../drivers/postgres/mod.ts";
import { SCHEMA_NAME } from "../drivers/postgres/_schema.ts";
import { TableReader } from "./_table_reader.ts";
import { redactUrl } from "../contract/redact_url.ts";

const KEYS = ["url", "schema"] as const;

/**
 * Validates a `[cluster.postgres]` table.
 *
 * @param table The table, with environment overrides merged in.
 * @param file The config file, named in errors.
 * @param sources Where each `postgres.<key>` came from, for errors.
 * @returns Connection options for `PostgresDriver.connect`.
 * @throws {ConfigError} Naming the key and the fix.
 */
export function parsePostgresConfig(
  table: Record<string, unknown>,
  file: string,
  sources: Map<string, string> = new Map(),
): PostgresConnectOptions {
  const read = new TableReader(table, file, "postgres", KEYS, sources);
  const url = read.text("url", true);
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
