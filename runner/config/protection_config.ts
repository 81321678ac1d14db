/**
 * The `[cluster.protection]` table: the eviction safety valve of the
 * runner's view (its watch, list --watch and dashboard).
 *
 * @module
 */

import {
  ConfigError,
  type EvictionProtectionOptions,
  resolveProtectionOptions,
} from "../../mod.ts";
import { ConfigTable, numeric } from "../../contract/config_table.ts";

const KEYS = ["enabled", "threshold", "min_instances", "max_ttls"] as const;

/**
 * Validates a `[cluster.protection]` table.
 *
 * @param table The table, with environment overrides merged in.
 * @param file The config file, named in errors.
 * @param sources Where each `protection.<key>` came from, for errors.
 * @returns The options, or `false` when `enabled = false`.
 * @throws {ConfigError} Naming the key and the fix.
 */
export function parseProtectionConfig(
  table: Record<string, unknown>,
  file: string,
  sources: Map<string, string> = new Map(),
): EvictionProtectionOptions | false {
  const read = new ConfigTable(table, file, "protection", KEYS, sources);
  if (!read.flag("enabled", true)) return false;
  // From an environment variable a number is a string.
  const number = (key: string) => numeric(table[key]) as number | undefined;
  const options: EvictionProtectionOptions = {
    ...(table.threshold === undefined
      ? {}
      : { threshold: number("threshold") }),
    ...(table.min_instances === undefined
      ? {}
      : { minInstances: number("min_instances") }),
    ...(table.max_ttls === undefined ? {} : { maxTtls: number("max_ttls") }),
  };
  try {
    resolveProtectionOptions(options);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const key = {
      "protection.threshold": "threshold",
      "protection.minInstances": "min_instances",
      "protection.maxTtls": "max_ttls",
    }[error.field ?? ""] ?? "threshold";
    read.fail(
      key,
      error.message.replace(/'protection\.\w+'/, `'protection.${key}'`),
    );
  }
  return options;
}
