/**
 * The options a {@linkcode Registry} is created with, and their validation.
 * The runner's config file goes through the same checks.
 *
 * @module
 */

import {
  type EvictionProtectionOptions,
  resolveProtectionOptions,
} from "./discovery/eviction_protection.ts";
import { hostname as osHostname } from "node:os";
import process from "node:process";
import { logger } from "./_logger.ts";
import type { Clock } from "./clock.ts";
import { type Driver, MAX_TTL_MS, MIN_TTL_MS } from "./contract/driver.ts";
import type { HealthCheckOptions } from "./heartbeat/health_check.ts";
import { type Duration, formatDuration, parseDuration } from "./duration.ts";
import { describe } from "./_describe.ts";
import { ConfigError } from "./errors.ts";
import { DEFAULT_MAX_MESSAGE_BYTES } from "./messaging/message.ts";
import {
  type HealthStatus,
  parseWeight,
  validateMeta,
  validateName,
  validateText,
} from "./instance.ts";

/**
 * OpenTelemetry's `MeterProvider`, as far as a registry uses it: an SDK's
 * provider fits, and so does the runner's.
 */
export interface MeterProvider {
  /**
   * A meter of OpenTelemetry's API (`Meter` of `@opentelemetry/api`).
   *
   * @param name The instrumentation scope: `roster`.
   * @param version roster's version.
   * @returns The meter.
   */
  getMeter(name: string, version?: string): object;
}

/** Options for creating a {@linkcode Registry}. */
export interface RegistryOptions {
  /** The backend; the process-wide memory driver when not given. */
  driver?: Driver;
  /**
   * The service this process registers as. Leave it out in a process that
   * only discovers others.
   */
  service?: string;
  /** The environment; `"default"` when not given. */
  env?: string;
  /** The instance id; `<service>-<hostname>-<random>` when not given. */
  id?: string;
  /** The version this process runs. */
  version?: string;
  /** Where others reach this process, such as `http://10.0.0.5:8080`. */
  addr?: string;
  /** String labels: at most 64 keys, values of at most 1 KiB, 8 KiB in all. */
  meta?: Record<string, string>;
  /** Time between heartbeats: ms or a string such as `"5s"`. Default `"5s"`. */
  heartbeatInterval?: Duration;
  /**
   * This instance's share of the work for `WeightedPicker`: a whole number
   * from 0 (listed, never picked) to 10,000. Default 100.
   */
  weight?: number;
  /** How long a registration lives without a heartbeat. Default `"15s"`. */
  ttl?: Duration;
  /**
   * How long one heartbeat may take before it counts as failed. Default and
   * maximum: the smaller of half the interval and a third of the ttl.
   */
  heartbeatTimeout?: Duration;
  /** How long `stop()` may take to deregister. Default `"5s"`. */
  stopTimeout?: Duration;
  /** Aborting it stops the registry, as `stop()` does. */
  signal?: AbortSignal;
  /** The clock for timers; inject a `FakeClock` in tests. */
  clock?: Clock;
  /**
   * Where the registry's OpenTelemetry metrics go: the global meter
   * provider by default (a no-op until one is installed). The runner passes
   * the provider its `/metrics` renders.
   */
  meterProvider?: MeterProvider;
  /** The host name recorded; the machine's when not given. */
  hostname?: string;
  /** The status to register with; `healthy` by default. */
  status?: HealthStatus;
  /**
   * A health check that keeps this instance's status: it registers
   * `unhealthy` and turns `healthy` once the check passes.
   */
  health?: HealthCheckOptions;
  /**
   * Keep a local view of the env, fed by watching, so that `instances()`
   * costs no round trip. While the backend cannot be reached the view keeps
   * the last known instances and `viewState` is `stale`.
   */
  cache?: boolean;
  /**
   * How often a watching registry purges expired entries, which is how
   * expiries get reported when no live instance is left to purge them.
   * Default `"250ms"`.
   */
  purgeInterval?: Duration;
  /** The largest message, encoded as JSON, in bytes. Default 65536. */
  maxMessageBytes?: number;
  /**
   * The eviction safety valve of this registry's view (watches, waits,
   * elections, cached and watched listings): when more than `threshold`
   * (half) of a service of at least `minInstances` (3) expires within one
   * ttl, its further expiries are held, and the instances kept listed,
   * until they beat again or `maxTtls` (3) ttls pass. `false` turns it off.
   */
  protection?: EvictionProtectionOptions | false;
}

/**
 * The names options are shown under in errors: the API's by default, the
 * config file's (`heartbeat_interval`) when the runner validates a file.
 */
export type OptionNames = Partial<Record<keyof RegistryOptions, string>>;

/** Options after validation, with defaults applied. */
export interface ResolvedOptions {
  /** The service, when registering. */
  service: string | undefined;
  /** The env. */
  env: string;
  /** The id given, if any. */
  id: string | undefined;
  /** The version, or `""`. */
  version: string;
  /** The address, or `""`. */
  addr: string;
  /** A validated copy of the metadata. */
  meta: Record<string, string>;
  /** The host name to record. */
  hostname: string;
  /** This process's id. */
  pid: number;
  /** The status to register with. */
  status: HealthStatus;
  /** Time between heartbeats, in ms. */
  heartbeatInterval: number;
  /** The weight to register with. */
  weight: number;
  /** Registration ttl, in ms. */
  ttl: number;
  /** How long one heartbeat may take, in ms. */
  heartbeatTimeout: number;
  /** How long `stop()` may take, in ms. */
  stopTimeout: number;
  /** Whether `instances()` answers from a local view. */
  cache: boolean;
  /** How often watching purges expired entries, in ms. */
  purgeInterval: number;
  /** The largest message in bytes. */
  maxMessageBytes: number;
  /** The eviction safety valve; undefined when off. */
  protection: Required<EvictionProtectionOptions> | undefined;
}

const log = logger("config");

/**
 * Validates registry options and applies defaults.
 *
 * @param options The options as given.
 * @param names How to name options in errors.
 * @returns The validated options.
 * @throws {ConfigError} Naming the first option at fault.
 *
 * @example
 * ```ts
 * import { resolveRegistryOptions } from "@roster/roster";
 * import assert from "node:assert/strict";
 *
 * const options = resolveRegistryOptions({ service: "api", ttl: "30s" });
 * assert.equal(options.ttl, 30_000);
 * assert.equal(options.heartbeatInterval, 5_000);
 * ```
 */
export function resolveRegistryOptions(
  options: RegistryOptions,
  names: OptionNames = {},
): ResolvedOptions {
  const name = (key: keyof RegistryOptions) => names[key] ?? key;
  const service = options.service === undefined
    ? undefined
    : validateName(name("service"), options.service);
  const env = options.env === undefined
    ? "default"
    : validateName(name("env"), options.env);
  const id = options.id === undefined
    ? undefined
    : validateName(name("id"), options.id);
  const { heartbeatInterval, ttl, heartbeatTimeout } = resolveTiming(
    options,
    name,
  );
  return {
    service,
    env,
    id,
    version: validateText(name("version"), options.version),
    addr: validateText(name("addr"), options.addr),
    meta: validateMeta(options.meta, name("meta")),
    hostname: options.hostname === undefined
      ? machineHostname()
      : validateText(name("hostname"), options.hostname),
    pid: process.pid,
    status: validateStatus(
      name("status"),
      options.status ?? (options.health ? "unhealthy" : undefined),
    ),
    heartbeatInterval,
    weight: parseWeight(options.weight, name("weight")),
    ttl,
    heartbeatTimeout,
    stopTimeout: parseDuration(
      options.stopTimeout ?? 5_000,
      name("stopTimeout"),
    ),
    cache: validateBoolean(name("cache"), options.cache),
    purgeInterval: parseDuration(
      options.purgeInterval ?? 250,
      name("purgeInterval"),
    ),
    maxMessageBytes: validateSize(
      name("maxMessageBytes"),
      options.maxMessageBytes,
    ),
    protection: resolveProtectionOptions(options.protection),
  };
}

/** Timings warned of already, so a warning is logged once per process. */
const warned = new Set<string>();

/** The interval, ttl and heartbeat timeout, checked against each other. */
function resolveTiming(
  options: RegistryOptions,
  name: (key: keyof RegistryOptions) => string,
): { heartbeatInterval: number; ttl: number; heartbeatTimeout: number } {
  const heartbeatInterval = parseDuration(
    options.heartbeatInterval ?? 5_000,
    name("heartbeatInterval"),
  );
  const ttl = parseDuration(options.ttl ?? 15_000, name("ttl"));
  if (ttl < MIN_TTL_MS || ttl > MAX_TTL_MS) {
    throw new ConfigError(
      `Invalid '${name("ttl")}': ${formatDuration(ttl)} must be between ${
        formatDuration(MIN_TTL_MS)
      } and ${
        formatDuration(MAX_TTL_MS)
      }; a ttl of three heartbeat intervals, such as "15s", is a good choice`,
      { field: name("ttl") },
    );
  }
  if (ttl <= heartbeatInterval) {
    throw new ConfigError(
      `Cannot start: '${name("ttl")}' (${
        formatDuration(ttl)
      }) must be greater than '${name("heartbeatInterval")}' (${
        formatDuration(heartbeatInterval)
      }); a ttl of three intervals is a good choice`,
      { field: name("ttl") },
    );
  }
  if (
    ttl < 2 * heartbeatInterval && !warned.has(`${ttl}/${heartbeatInterval}`)
  ) {
    // Once per process: the runner's config and its registry read the
    // same timing, and the first names the config's keys.
    warned.add(`${ttl}/${heartbeatInterval}`);
    log.warn(
      "'{ttl}' ({ttlValue}) is less than twice '{interval}' ({intervalValue}): one late heartbeat will expire the instance; a ttl of three intervals is safer",
      {
        ttl: name("ttl"),
        ttlValue: formatDuration(ttl),
        interval: name("heartbeatInterval"),
        intervalValue: formatDuration(heartbeatInterval),
      },
    );
  }
  const maxTimeout = Math.max(
    1,
    Math.floor(Math.min(heartbeatInterval / 2, ttl / 3)),
  );
  const heartbeatTimeout = options.heartbeatTimeout === undefined
    ? maxTimeout
    : parseDuration(options.heartbeatTimeout, name("heartbeatTimeout"));
  if (heartbeatTimeout > maxTimeout) {
    throw new ConfigError(
      `Invalid '${name("heartbeatTimeout")}': ${
        formatDuration(heartbeatTimeout)
      } must be at most ${
        formatDuration(maxTimeout)
      } (half the interval and a third of the ttl), so beats never pile up`,
      { field: name("heartbeatTimeout") },
    );
  }
  return { heartbeatInterval, ttl, heartbeatTimeout };
}

/**
 * Checks an instance status.
 *
 * @param field The field name, quoted in the error.
 * @param value The value; undefined means `healthy`.
 * @returns The status.
 */
export function validateStatus(field: string, value: unknown): HealthStatus {
  if (value === undefined) return "healthy";
  if (value !== "healthy" && value !== "warning" && value !== "unhealthy") {
    throw new ConfigError(
      `Invalid '${field}': ${
        describe(value)
      } must be "healthy", "warning" or "unhealthy"${
        value === "draining" || value === "maintenance"
          ? `; use ${
            value === "draining" ? "drain()" : "setMaintenance()"
          } for ${describe(value)}`
          : ""
      }`,
      { field },
    );
  }
  return value;
}

function validateBoolean(field: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== "boolean") {
    throw new ConfigError(
      `Invalid '${field}': expected true or false, got ${describe(value)}`,
      { field },
    );
  }
  return value;
}

function validateSize(field: string, value: unknown): number {
  if (value === undefined) return DEFAULT_MAX_MESSAGE_BYTES;
  if (
    typeof value !== "number" || !Number.isInteger(value) || value < 64 ||
    value > 16_777_216
  ) {
    throw new ConfigError(
      `Invalid '${field}': ${
        describe(value)
      } must be a whole number of bytes from 64 to 16777216`,
      { field },
    );
  }
  return value;
}

function machineHostname(): string {
  try {
    return osHostname() || "localhost";
  } catch {
    // Without permission to read it, a placeholder beats failing to start.
    return "localhost";
  }
}

/** Options for the streams of changes a registry offers. */
export interface StreamOptions {
  /** Ends the stream. */
  signal?: AbortSignal;
}
