/**
 * The `[cluster.etcd]` table: the endpoints, credentials and key prefix.
 * The password can come from `ROSTER_ETCD_PASSWORD`, and no error ever
 * shows it.
 *
 * @module
 */

import type { EtcdConnectOptions } from "../drivers/etcd/mod.ts";
import { describe } from "./_describe.ts";
import { TableReader } from "./_table_reader.ts";

const KEYS = ["endpoints", "username", "password", "prefix"] as const;
const ENDPOINT = /^https?:\/\/[^\s/]+(:\d{1,5})?\/?$/;

/**
 * Validates a `[cluster.etcd]` table.
 *
 * @param table The table, with environment overrides merged in.
 * @param file The config file, named in errors.
 * @param sources Where each `etcd.<key>` came from, for errors.
 * @returns Connection options for `EtcdDriver.connect`.
 * @throws {ConfigError} Naming the key and the fix.
 */
export function parseEtcdConfig(
  table: Record<string, unknown>,
  file: string,
  sources: Map<string, string> = new Map(),
): EtcdConnectOptions {
  const read = new TableReader(table, file, "etcd", KEYS, sources);
  const value = table.endpoints;
  // From an environment variable a list is comma-separated.
  const endpoints = typeof value === "string"
    ? value.split(",").map((s) => s.trim()).filter(Boolean)
    : value;
  if (
    endpoints !== undefined &&
    (!Array.isArray(endpoints) || endpoints.length === 0 ||
      !endpoints.every((e) => typeof e === "string" && ENDPOINT.test(e)))
  ) {
    read.fail(
      "endpoints",
      `Invalid 'etcd.endpoints': ${
        describe(value)
      } must be a non-empty list of URLs, such as ["http://127.0.0.1:2379"]`,
    );
  }
  const username = read.text("username");
  const password = read.text("password", true);
  if ((username === undefined) !== (password === undefined)) {
    read.fail(
      username === undefined ? "username" : "password",
      "Invalid 'etcd': set both 'username' and 'password', or neither",
    );
  }
  const prefix = read.text("prefix");
  return {
    ...(endpoints === undefined ? {} : { endpoints: endpoints as string[] }),
    ...(username && password ? { auth: { username, password } } : {}),
    ...(prefix === undefined ? {} : { prefix }),
  };
}
