/**
 * The runner's config: the `[cluster]` table of a TOML file, overridden by
 * `ROSTER_*` environment variables, validated as a whole after merging.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import process from "node:process";
import { parse, TomlError } from "smol-toml";
import {
  ConfigTable,
  describeValue as describe,
  didYouMean as suggestion,
  numeric,
  parseConfigDuration,
} from "../../contract/config_table.ts";
import type { DriverConfig } from "../../contract/driver_config.ts";
import {
  ConfigError,
  type HealthCheckOptions,
  type RegistryOptions,
  type ResolvedOptions,
  resolveRegistryOptions,
} from "../../mod.ts";
import { DRIVER_CONFIGS, DRIVER_NAMES, driverConfig } from "./drivers.ts";
import { parseHealthConfig } from "./health_config.ts";
import { type HttpConfig, parseHttpConfig } from "./http_config.ts";
import { type DnsConfig, parseDnsConfig } from "./dns_config.ts";
import { parseProtectionConfig } from "./protection_config.ts";

/** A config file after validation. */
export interface RunnerConfig {
  /** The file it came from. */
  file: string;
  /** The driver's name, as `driver` gave it. */
  driver: string;
  /** The driver's config entry: how it connects. */
  driverConfig: DriverConfig;
  /** The driver's validated `[cluster.<driver>]` table. */
  driverOptions: unknown;
  /** The registry options, validated. */
  options: RegistryOptions;
  /** The same options with defaults applied. */
  resolved: ResolvedOptions;
  /** The validated `[cluster.health]` table, when there is one. */
  health?: HealthCheckOptions;
  /** The validated `[cluster.http]` table, when there is one. */
  http?: HttpConfig;
  /** The validated `[cluster.dns]` table, when there is one. */
  dns?: DnsConfig;
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

/** The drivers that take a `[cluster.<name>]` table. */
const DRIVER_TABLES = DRIVER_CONFIGS.filter((d) => d.keys.length > 0).map((
  d,
) => d.name);

/** Keys of `[cluster]` and what they map to in {@linkcode RegistryOptions}. */
const REGISTRY_KEYS = {
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
  health: undefined,
  http: undefined,
  dns: undefined,
  kill_timeout: undefined,
  drain_timeout: undefined,
  protection: undefined,
} as const satisfies Record<string, keyof RegistryOptions | undefined>;
/** Every key of `[cluster]`: the registry's, the runner's and the drivers'. */
const KEYS: Record<string, string | undefined> = {
  ...REGISTRY_KEYS,
  ...Object.fromEntries(DRIVER_TABLES.map((name) => [name, undefined])),
};
const DURATION_KEYS = new Set<string>([
  "heartbeat_interval",
  "ttl",
  "heartbeat_timeout",
  "stop_timeout",
]);
/** Nested tables whose keys environment variables may set one by one. */
const TABLE_KEYS = new Set<string>([
  "meta",
  ...DRIVER_TABLES,
  "health",
  "http",
  "dns",
  "protection",
]);
/** The command-line flag that set a driver's key, by `<driver>.<key>`. */
const FLAG_NAMES = new Map<string, string>(
  DRIVER_CONFIGS.flatMap((d) =>
    Object.entries(d.flags ?? {}).map((
      [key, flag],
    ) => [`${d.name}.${key}`, flag])
  ),
);

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
    sources.set(path, `--${FLAG_NAMES.get(path) ?? path}`);
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
    if (!name.startsWith(ENV_PREFIX) || name === `${ENV_PREFIX}CONFIG`) {
      continue;
    }
    if (name === ENV_PREFIX || value === "") {
      throw new ConfigError(
        name === ENV_PREFIX
          ? `'${file}': Unknown environment variable '${name}': it names no key; remove it`
          : `'${file}': The environment variable '${name}' is empty; unset it, or give it a value`,
        { file, field: name },
      );
    }
    const path = name.slice(ENV_PREFIX.length).toLowerCase();
    const table = [...TABLE_KEYS].find((key) => path.startsWith(`${key}_`));
    if (table) {
      const nested = raw[table] ?? {};
      if (!isTable(nested)) continue; // reported by validation below
      raw[table] = { ...nested, [path.slice(table.length + 1)]: value };
      sources.set(`${table}.${path.slice(table.length + 1)}`, name);
      continue;
    }
    if (!(path in KEYS) || TABLE_KEYS.has(path)) {
      const names = Object.keys(KEYS).filter((key) => !TABLE_KEYS.has(key))
        .map((key) => ENV_PREFIX + key.toUpperCase());
      throw new ConfigError(
        `'${file}': Unknown environment variable '${name}'${
          suggestion(name, names)
        }; roster reads ${names.join(", ")}, and ${
          [...TABLE_KEYS].map((table) =>
            `${ENV_PREFIX}${table.toUpperCase()}_<KEY>`
          ).join(", ")
        }`,
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
  const table = (name: string): Record<string, unknown> | undefined => {
    const value = raw[name];
    if (value === undefined || isTable(value)) return value;
    throw new ConfigError(
      `'${file}': Invalid 'cluster.${name}'${
        where(name)
      }: expected a table, got ${
        describe(value)
      }; write it as a [cluster.${name}] section`,
      { file, field: name },
    );
  };
  const driver = chosenDriver(raw, file, where);
  const { options, resolved } = registryOptions(raw, file, where, sources);
  const duration = (key: string, fallback: number, allowZero = false) =>
    raw[key] === undefined
      ? fallback
      : configDuration(raw[key], key, file, where(key), { allowZero });
  const driverTable = new ConfigTable(
    table(driver.name) ?? {},
    file,
    driver.name,
    driver.keys,
    sources,
  );
  return {
    file,
    driver: driver.name,
    driverConfig: driver,
    driverOptions: driver.parse(driverTable),
    options,
    resolved,
    health: raw.health === undefined
      ? undefined
      : parseHealthConfig(table("health")!, file, sources),
    http: raw.http === undefined
      ? undefined
      : parseHttpConfig(table("http")!, file, sources),
    dns: raw.dns === undefined
      ? undefined
      : parseDnsConfig(table("dns")!, file, sources),
    killTimeout: duration("kill_timeout", 10_000),
    drainTimeout: duration("drain_timeout", 0, true),
    sources,
  };
}

/** The driver the config names, with no other driver's table beside it. */
function chosenDriver(
  raw: Record<string, unknown>,
  file: string,
  where: (key: string) => string,
): DriverConfig {
  const name = raw.driver ?? DRIVER_NAMES[0];
  const driver = typeof name === "string" ? driverConfig(name) : undefined;
  if (!driver) {
    throw new ConfigError(
      `'${file}': Invalid 'driver'${where("driver")}: ${
        describe(name)
      } is not a driver${
        typeof name === "string" ? suggestion(name, DRIVER_NAMES) : ""
      }; use ${
        DRIVER_NAMES.map((n) => `"${n}"`).join(", ").replace(
          /, ([^,]*)$/,
          " or $1",
        )
      }`,
      { file, field: "driver" },
    );
  }
  for (const other of DRIVER_TABLES) {
    if (other !== driver.name && raw[other] !== undefined) {
      throw new ConfigError(
        `'${file}': 'cluster.${other}'${where(other)} is set, but 'driver' is ${
          describe(driver.name)
        }; set driver = "${other}" or remove the [cluster.${other}] table`,
        { file, field: other },
      );
    }
  }
  return driver;
}

/** The registry's options from `[cluster]`, validated as the library does. */
function registryOptions(
  raw: Record<string, unknown>,
  file: string,
  where: (key: string) => string,
  sources: Map<string, string>,
): { options: RegistryOptions; resolved: ResolvedOptions } {
  const options: RegistryOptions = {};
  const names: Record<string, string> = {};
  for (const [key, option] of Object.entries(REGISTRY_KEYS)) {
    if (option === undefined) continue;
    names[option] = key;
    const value = raw[key];
    if (value === undefined) continue;
    (options as Record<string, unknown>)[option] = DURATION_KEYS.has(key)
      ? configDuration(value, key, file, where(key))
      : key === "weight"
      ? numeric(value) // from an environment variable
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
  try {
    return { options, resolved: resolveRegistryOptions(options, names) };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const key = error.field?.split(".")[0] ?? "";
    throw new ConfigError(
      `'${file}': ${error.message}${where(error.field ?? key)}`,
      { file, field: error.field, cause: error },
    );
  }
}

/** A duration of `[cluster]`; a bare number is seconds. */
function configDuration(
  value: unknown,
  key: string,
  file: string,
  where: string,
  options: { allowZero?: boolean } = {},
): number {
  try {
    return parseConfigDuration(value, key, options);
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
