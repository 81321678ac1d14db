/**
 * The runner's config: the `[cluster]` table of a TOML file, overridden by
 * `ROSTER_*` environment variables, validated as a whole after merging.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import process from "node:process";
import { parse, TomlError } from "smol-toml";
import { suggestion } from "./_suggestion.ts";
import { parseRedisConfig } from "./redis_config.ts";
import { parseProtectionConfig } from "./protection_config.ts";
import { parsePostgresConfig } from "./postgres_config.ts";
import { parseEtcdConfig } from "./etcd_config.ts";
import { parseHealthConfig } from "./health_config.ts";
import { type HttpConfig, parseHttpConfig } from "./http_config.ts";
import {
  ConfigError,
  type HealthCheckOptions,
  parseDuration,
  type RegistryOptions,
  type ResolvedOptions,
  resolveRegistryOptions,
} from "../mod.ts";
import type { RedisConnectOptions } from "../drivers/redis/mod.ts";
import type { PostgresConnectOptions } from "../drivers/postgres/mod.ts";
import type { EtcdConnectOptions } from "../drivers/etcd/mod.ts";
import { describe } from "./_describe.ts";

/** The drivers the runner can build, by the name `driver` takes. */
export const DRIVER_NAMES = ["memory", "redis", "postgres", "etcd"] as const;
/** A driver name. */
export type DriverName = typeof DRIVER_NAMES[number];

/** A config file after validation. */
export interface RunnerConfig {
  /** The file it came from. */
  file: string;
  /** The driver to use. */
  driver: DriverName;
  /** The registry options, validated. */
  options: RegistryOptions;
  /** The same options with defaults applied. */
  resolved: ResolvedOptions;
  /** The validated `[cluster.redis]` table, when the driver is Redis. */
  redis?: RedisConnectOptions;
  /** The validated `[cluster.postgres]` table, when the driver is PostgreSQL. */
  postgres?: PostgresConnectOptions;
  /** The validated `[cluster.etcd]` table, when the driver is etcd. */
  etcd?: EtcdConnectOptions;
  /** The validated `[cluster.health]` table, when there is one. */
  health?: HealthCheckOptions;
  /** The validated `[cluster.http]` table, when there is one. */
  http?: HttpConfig;
  /** Sidecar mode: how long the child may take to exit after the signal. */
  killTimeout: number;
  /**
   * How long the instance stays listed as `draining` on SIGTERM (or
   * `roster drain`) before it leaves, or, in sidecar mode, before the child
   * is signalled; 0 by default.
   */
  drainTimeout: number;
  /** Where each key's value came from: the file, or an environment variable. */
  sources: Map<string, string>;
}

/** Keys of `[cluster]` and what they map to in {@linkcode RegistryOptions}. */
const KEYS = {
  driver: undefined,
  id: "id",
  service: "service",
  env: "env",
  version: "version",
  addr: "addr",
  heartbeat_interval: "heartbeatInterval",
  weight: "weight",
  ttl: "ttl",
  heartbeat_timeout: "heartbeatTimeout",
  stop_timeout: "stopTimeout",
  hostname: "hostname",
  meta: "meta",
  redis: undefined,
  postgres: undefined,
  etcd: undefined,
  health: undefined,
  http: undefined,
  kill_timeout: undefined,
  drain_timeout: undefined,
  protection: undefined,
} as const satisfies Record<string, keyof RegistryOptions | undefined>;
type Key = keyof typeof KEYS;
const DURATION_KEYS = new Set<Key>([
  "heartbeat_interval",
  "ttl",
  "heartbeat_timeout",
  "stop_timeout",
]);
/** Nested tables whose keys environment variables may set one by one. */
const TABLE_KEYS = new Set<Key>([
  "meta",
  "redis",
  "postgres",
  "etcd",
  "health",
  "http",
  "protection",
]);

/** The prefix of every environment variable the runner reads. */
export const ENV_PREFIX = "ROSTER_";

/** What errors call the config when there is no file. */
export const NO_FILE = "(no config file)";

/**
 * Reads, merges and validates a config file.
 *
 * @param file The TOML file's path; none for a config of the environment
 *   and flags alone, as the commands that only read accept.
 * @param env The environment to read `ROSTER_*` overrides from.
 * @param flags Command-line overrides by key (`driver`, `env`,
 *   `redis.url`), applied last.
 * @returns The validated config.
 * @throws {ConfigError} Naming the file, the key and the fix.
 */
export async function loadConfig(
  file: string | undefined,
  env: Record<string, string> = process.env as Record<string, string>,
  flags: Record<string, string> = {},
): Promise<RunnerConfig> {
  if (file === undefined) {
    return parseConfig("[cluster]\n", NO_FILE, env, flags);
  }
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (cause) {
    const code = (cause as { code?: string })?.code;
    const reason = code === "ENOENT"
      ? "it does not exist"
      : code === "EISDIR"
      ? "it is a directory"
      : (cause as Error)?.message ?? String(cause);
    throw new ConfigError(
      `Cannot read config file '${file}': ${reason}; pass --config with the path of a TOML file that has a [cluster] table`,
      { file, cause },
    );
  }
  return parseConfig(text, file, env, flags);
}

/**
 * Parses and validates config text.
 *
 * @param text The TOML text.
 * @param file The name to use in errors.
 * @param env The environment to read `ROSTER_*` overrides from.
 * @param flags Command-line overrides by key (`driver`, `env`,
 *   `redis.url`), applied last.
 * @returns The validated config.
 * @throws {ConfigError} Naming the file, the key and the fix.
 */
export function parseConfig(
  text: string,
  file: string,
  env: Record<string, string> = {},
  flags: Record<string, string> = {},
): RunnerConfig {
  let document: Record<string, unknown>;
  try {
    document = parse(text);
  } catch (cause) {
    if (cause instanceof TomlError) {
      const reason = cause.message.split("\n")[0]?.replace(
        /^Invalid TOML document: /,
        "",
      );
      throw new ConfigError(
        `Invalid TOML in '${file}' at line ${cause.line}, column ${cause.column}: ${reason}; fix the syntax there`,
        { file, cause },
      );
    }
    throw cause;
  }
  const table = document.cluster;
  if (table === undefined && !Object.keys(env).some(isRosterVariable)) {
    throw new ConfigError(
      `'${file}' has no [cluster] table; add one with at least service = "api"`,
      { file, field: "cluster" },
    );
  }
  if (table !== undefined && !isTable(table)) {
    throw new ConfigError(
      `Invalid 'cluster' in '${file}': expected a table, got ${
        describe(table)
      }; write it as a [cluster] section`,
      { file, field: "cluster" },
    );
  }
  const raw: Record<string, unknown> = { ...(table ?? {}) };
  const sources = new Map<string, string>();
  for (const key of Object.keys(raw)) {
    if (!(key in KEYS)) {
      throw new ConfigError(
        `'${file}': Unknown key 'cluster.${key}'${
          suggestion(key, Object.keys(KEYS))
        }; valid keys are ${Object.keys(KEYS).join(", ")}`,
        { file, field: key },
      );
    }
    sources.set(key, `'${file}'`);
  }
  applyEnv(raw, env, sources, file);
  for (const [path, value] of Object.entries(flags)) {
    const [table, key] = path.split(".");
    if (key === undefined) raw[path] = value;
    else {
      const nested = raw[table!] ?? {};
      if (isTable(nested)) raw[table!] = { ...nested, [key]: value };
    }
    sources.set(path, `--${path === "redis.url" ? "redis-url" : path}`);
  }
  return validate(raw, file, sources);
}

function applyEnv(
  raw: Record<string, unknown>,
  env: Record<string, string>,
  sources: Map<string, string>,
  file: string,
): void {
  for (const [name, value] of Object.entries(env)) {
    // ROSTER_CONFIG names the file; it is not a key.
    if (!isRosterVariable(name) || name === `${ENV_PREFIX}CONFIG`) continue;
    const path = name.slice(ENV_PREFIX.length).toLowerCase();
    const table = [...TABLE_KEYS].find((key) => path.startsWith(`${key}_`));
    if (table) {
      const nested = raw[table] ?? {};
      if (!isTable(nested)) continue; // reported by validation below
      raw[table] = { ...nested, [path.slice(table.length + 1)]: value };
      sources.set(`${table}.${path.slice(table.length + 1)}`, name);
      continue;
    }
    if (!(path in KEYS) || TABLE_KEYS.has(path as Key)) {
      const names = Object.keys(KEYS).filter((key) =>
        !TABLE_KEYS.has(key as Key)
      ).map((key) => ENV_PREFIX + key.toUpperCase());
      throw new ConfigError(
        `'${file}': Unknown environment variable '${name}'${
          suggestion(name, names)
        }; roster reads ${
          names.join(", ")
        }, and ${ENV_PREFIX}META_<KEY>, ${ENV_PREFIX}REDIS_<KEY>, ${ENV_PREFIX}POSTGRES_<KEY>, ${ENV_PREFIX}ETCD_<KEY>, ${ENV_PREFIX}HEALTH_<KEY>, ${ENV_PREFIX}HTTP_<KEY>`,
        { file, field: name },
      );
    }
    raw[path] = value;
    sources.set(path, name);
  }
}

function validate(
  raw: Record<string, unknown>,
  file: string,
  sources: Map<string, string>,
): RunnerConfig {
  // Every message starts with the file; a value from the environment also
  // names its variable, since the file does not show it.
  const where = (key: string) => {
    const source = sources.get(key);
    return source && !source.startsWith("'") ? ` (set by ${source})` : "";
  };
  const driver = raw.driver ?? "memory";
  if (!DRIVER_NAMES.includes(driver as DriverName)) {
    throw new ConfigError(
      `'${file}': Invalid 'driver'${where("driver")}: ${
        describe(driver)
      } is not a driver${
        typeof driver === "string" ? suggestion(driver, [...DRIVER_NAMES]) : ""
      }; use ${
        DRIVER_NAMES.map((name) => `"${name}"`).join(", ").replace(
          /, ([^,]*)$/,
          " or $1",
        )
      }`,
      { file, field: "driver" },
    );
  }
  const driverTable = raw[driver as string] ?? {};
  if (!isTable(driverTable)) {
    throw new ConfigError(
      `'${file}': Invalid 'cluster.${driver}'${
        where(String(driver))
      }: expected a table, got ${describe(driverTable)}`,
      { file, field: String(driver) },
    );
  }
  for (const other of DRIVER_NAMES) {
    if (other !== driver && raw[other] !== undefined) {
      throw new ConfigError(
        `'${file}': 'cluster.${other}'${where(other)} is set, but 'driver' is ${
          describe(driver)
        }; set driver = "${other}" or remove the [cluster.${other}] table`,
        { file, field: other },
      );
    }
  }
  const options: RegistryOptions = {};
  const names: Record<string, string> = {};
  for (const [key, option] of Object.entries(KEYS)) {
    if (option === undefined) continue;
    names[option] = key;
    const value = raw[key];
    if (value === undefined) continue;
    (options as Record<string, unknown>)[option] = DURATION_KEYS.has(key as Key)
      ? configDuration(value, key, file, where(key))
      : key === "weight" && typeof value === "string" && /^\d+$/.test(value)
      ? Number(value) // from an environment variable
      : isTable(value)
      ? { ...value }
      : value;
  }
  if (raw.protection !== undefined) {
    if (!isTable(raw.protection)) {
      throw new ConfigError(
        `'${file}': Invalid 'cluster.protection'${
          where("protection")
        }: expected a table, got ${describe(raw.protection)}`,
        { file, field: "protection" },
      );
    }
    options.protection = parseProtectionConfig(raw.protection, file, sources);
  }
  let resolved: ResolvedOptions;
  try {
    resolved = resolveRegistryOptions(options, names);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const key = error.field?.split(".")[0] ?? "";
    throw new ConfigError(
      `'${file}': ${error.message}${where(error.field ?? key)}`,
      { file, field: error.field, cause: error },
    );
  }
  const table = (value: unknown, name: string): Record<string, unknown> => {
    if (!isTable(value)) {
      throw new ConfigError(
        `'${file}': Invalid 'cluster.${name}'${
          where(name)
        }: expected a table, got ${
          describe(value)
        }; write it as a [cluster.${name}] section`,
        { file, field: name },
      );
    }
    return value;
  };
  return {
    file,
    driver: driver as DriverName,
    options,
    resolved,
    redis: driver === "redis"
      ? parseRedisConfig(driverTable, file, sources)
      : undefined,
    postgres: driver === "postgres"
      ? parsePostgresConfig(driverTable, file, sources)
      : undefined,
    etcd: driver === "etcd"
      ? parseEtcdConfig(driverTable, file, sources)
      : undefined,
    health: raw.health === undefined
      ? undefined
      : parseHealthConfig(table(raw.health, "health"), file, sources),
    http: raw.http === undefined
      ? undefined
      : parseHttpConfig(table(raw.http, "http"), file, sources),
    killTimeout: raw.kill_timeout === undefined ? 10_000 : configDuration(
      raw.kill_timeout,
      "kill_timeout",
      file,
      where("kill_timeout"),
    ),
    drainTimeout: raw.drain_timeout === undefined ? 0 : configDuration(
      raw.drain_timeout,
      "drain_timeout",
      file,
      where("drain_timeout"),
      true,
    ),
    sources,
  };
}

/** In a config file a bare number is seconds, and so is a numeric env value. */
function configDuration(
  value: unknown,
  key: string,
  file: string,
  where: string,
  allowZero = false,
): number {
  const seconds = typeof value === "string" && /^\s*\d+(\.\d+)?\s*$/.test(value)
    ? Number(value)
    : value;
  try {
    return parseDuration(seconds, key, { numberUnit: "s", allowZero });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new ConfigError(`'${file}': ${error.message}${where}`, {
      file,
      field: key,
      cause: error,
    });
  }
}

function isRosterVariable(name: string): boolean {
  return name.startsWith(ENV_PREFIX) && name.length > ENV_PREFIX.length;
}

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Date);
}
