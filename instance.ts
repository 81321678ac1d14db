/**
 * The instance model: what one registered process looks like, and the rules
 * its fields must follow.
 *
 * @module
 */

import { describe } from "./_describe.ts";
import { ConfigError } from "./errors.ts";

/**
 * What the instance's own health says: `healthy`; `warning` (degraded: it
 * stays listed and eligible, with a tenth of its weight); `unhealthy` (alive,
 * but left out of listings, pickers, elections and waits until it recovers).
 */
export type HealthStatus = "healthy" | "warning" | "unhealthy";

/**
 * Whether an instance can take work: its {@linkcode HealthStatus}, or, set by
 * the process itself, `draining` (finishing its work before it leaves) or
 * `maintenance` (out of service for a while). Only `healthy` and `warning`
 * instances take work; the others stay registered and visible in
 * `allInstances()`, `roster list` and the dashboard.
 */
export type InstanceStatus = HealthStatus | "draining" | "maintenance";

/** Every {@linkcode InstanceStatus}, in order of fitness. */
export const INSTANCE_STATUSES: readonly InstanceStatus[] = [
  "healthy",
  "warning",
  "unhealthy",
  "draining",
  "maintenance",
];

/**
 * Whether an instance takes work: it is `healthy` or `warning`. Listings,
 * pickers, elections, waits and quorums count only these.
 *
 * @param instance The instance (its status is all that is read).
 * @returns True for `healthy` and `warning`.
 *
 * @example
 * ```ts
 * import { takesWork } from "@roster/roster";
 * import assert from "node:assert/strict";
 *
 * assert.equal(takesWork({ status: "warning" }), true);
 * assert.equal(takesWork({ status: "draining" }), false);
 * ```
 */
export function takesWork(
  instance: { readonly status: InstanceStatus },
): boolean {
  return instance.status === "healthy" || instance.status === "warning";
}

/**
 * Reads a status a backend stored as text. A status this version does not
 * know (written by a newer one) reads as `unhealthy`: it takes no work.
 *
 * @param text The stored status.
 * @returns The status.
 */
export function parseInstanceStatus(text: unknown): InstanceStatus {
  return INSTANCE_STATUSES.includes(text as InstanceStatus)
    ? text as InstanceStatus
    : "unhealthy";
}

/** The share of its weight a `warning` instance keeps (Consul's 1 in 10). */
export const WARNING_WEIGHT_SHARE = 0.1;

/**
 * The weight a picker gives an instance: its `weight` when healthy, a tenth
 * of it (at least 1, unless the weight is 0) when `warning`, and 0 when it
 * takes no work.
 *
 * @param instance The instance.
 * @returns The weight to pick it by.
 *
 * @example
 * ```ts
 * import { effectiveWeight } from "@roster/roster";
 * import assert from "node:assert/strict";
 *
 * assert.equal(effectiveWeight({ status: "healthy", weight: 100 }), 100);
 * assert.equal(effectiveWeight({ status: "warning", weight: 100 }), 10);
 * assert.equal(effectiveWeight({ status: "draining", weight: 100 }), 0);
 * ```
 */
export function effectiveWeight(
  instance: { readonly status: InstanceStatus; readonly weight: number },
): number {
  if (instance.status === "healthy") return instance.weight;
  if (instance.status !== "warning" || instance.weight === 0) return 0;
  return Math.max(1, Math.round(instance.weight * WARNING_WEIGHT_SHARE));
}

/** A live service instance, as the backend last recorded it. */
export interface Instance {
  /** Unique within the env; matches `[A-Za-z0-9._-]{1,128}`. */
  readonly id: string;
  /** The service this instance belongs to, such as `api`. */
  readonly service: string;
  /** The environment, such as `production`; `default` unless set. */
  readonly env: string;
  /** The version the instance runs; empty when not set. */
  readonly version: string;
  /** Where to reach it, such as `http://10.0.0.5:8080`; empty when not set. */
  readonly addr: string;
  /** Free-form string labels, such as `{ zone: "eu-1" }`. */
  readonly meta: Readonly<Record<string, string>>;
  /** The host the process runs on. */
  readonly hostname: string;
  /** The process id on that host. */
  readonly pid: number;
  /** Whether it can take work. */
  readonly status: InstanceStatus;
  /**
   * The registration number the backend assigned: strictly increasing per
   * env, new on every (re-)registration. It orders instances oldest first.
   * For fencing leader work use the leadership's `term`, which only rises.
   */
  readonly seq: number;
  /** When this registration began, in ms by the backend's clock. */
  readonly registeredAt: number;
  /** The last accepted heartbeat, in ms by the backend's clock. */
  readonly heartbeatAt: number;
  /** When the registration lapses without another heartbeat, in ms by the backend's clock. */
  readonly expiresAt: number;
  /**
   * How often the instance means to heartbeat, in ms; 0 where the backend
   * did not record it. A beat more than 1.5 intervals overdue is late.
   */
  readonly heartbeatInterval: number;
  /**
   * Its share of the work against its peers, for `WeightedPicker`: 100 unless
   * set, 0 to stay listed but never be picked.
   */
  readonly weight: number;
}

/** The fields a process declares about itself when it registers. */
export interface InstanceFields {
  /** Unique within the env. */
  id: string;
  /** The service name. */
  service: string;
  /** The environment. */
  env: string;
  /** The version it runs. */
  version: string;
  /** Where to reach it. */
  addr: string;
  /** String labels. */
  meta: Record<string, string>;
  /** The host it runs on. */
  hostname: string;
  /** Its process id. */
  pid: number;
  /** Whether it can take work. */
  status: InstanceStatus;
}

/** Ids, services and envs: safe in keys, logs and URLs. */
const NAME = /^[A-Za-z0-9._-]{1,128}$/;
/** The most meta keys one instance may carry. */
export const MAX_META_KEYS = 64;
/** The longest meta value, in UTF-8 bytes. */
export const MAX_META_VALUE_BYTES = 1024;
/** The most meta one instance may carry in all (keys and values), in UTF-8 bytes. */
export const MAX_META_TOTAL_BYTES = 8192;
const MAX_TEXT_BYTES = 1024;
const encoder = new TextEncoder();

/** The largest weight an instance may carry. */
export const MAX_WEIGHT = 10_000;

/**
 * Reads a weight: a whole number from 0 to {@linkcode MAX_WEIGHT}. Like
 * {@linkcode parseDuration}, it takes the value first, then the field its
 * errors name.
 *
 * @param value The value to check; undefined means 100.
 * @param field The field name, quoted in the error.
 * @returns The weight.
 * @throws {ConfigError} When the value is not such a number.
 *
 * @example
 * ```ts
 * import { parseWeight } from "@roster/roster";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseWeight(undefined, "weight"), 100);
 * assert.throws(() => parseWeight(2.5, "weight"), /whole number/);
 * ```
 */
export function parseWeight(value: unknown, field: string): number {
  if (value === undefined) return 100;
  if (
    typeof value !== "number" || !Number.isInteger(value) || value < 0 ||
    value > MAX_WEIGHT
  ) {
    throw new ConfigError(
      `Invalid '${field}': ${
        typeof value === "string" ? `'${value}'` : String(value)
      } must be a whole number from 0 to ${MAX_WEIGHT}; 100 is the default`,
      { field },
    );
  }
  return value;
}

/**
 * Checks a weight, field first.
 *
 * @deprecated Use {@linkcode parseWeight}, which takes the value first as
 *   `parseDuration` does.
 * @param field The field name, quoted in the error.
 * @param value The value to check; undefined means 100.
 * @returns The weight.
 * @throws {ConfigError} When the value is not such a number.
 *
 * @example
 * ```ts
 * import { validateWeight } from "@roster/roster";
 * import assert from "node:assert/strict";
 *
 * assert.equal(validateWeight("weight", undefined), 100);
 * ```
 */
export function validateWeight(field: string, value: unknown): number {
  return parseWeight(value, field);
}

/**
 * Checks a name-like field (`id`, `service`, `env`).
 *
 * @param field The field name, quoted in the error.
 * @param value The value to check.
 * @returns The value, now known to be a valid name.
 * @throws {ConfigError} When the value is not 1 to 128 of `A-Z a-z 0-9 . _ -`.
 *
 * @example
 * ```ts
 * import { validateName } from "./instance.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(validateName("service", "api"), "api");
 * assert.throws(() => validateName("id", "api 1"));
 * ```
 */
export function validateName(field: string, value: unknown): string {
  if (typeof value !== "string" || !NAME.test(value)) {
    throw new ConfigError(
      `Invalid '${field}': ${
        describe(value)
      } must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_' or '-'`,
      { field },
    );
  }
  return value;
}

/**
 * Checks a free-text field (`version`, `addr`): a string of at most 1 KiB.
 *
 * @param field The field name, quoted in the error.
 * @param value The value to check.
 * @returns The value, or `""` when it is undefined.
 * @throws {ConfigError} When the value is not a string or is too long.
 *
 * @example
 * ```ts
 * import { validateText } from "./instance.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(validateText("version", "1.2.0"), "1.2.0");
 * assert.equal(validateText("addr", undefined), "");
 * ```
 */
export function validateText(field: string, value: unknown): string {
  if (value === undefined) return "";
  if (typeof value !== "string") {
    throw new ConfigError(
      `Invalid '${field}': expected a string, got ${describe(value)}`,
      { field },
    );
  }
  if (encoder.encode(value).length > MAX_TEXT_BYTES) {
    throw new ConfigError(
      `Invalid '${field}': ${
        describe(value)
      } is longer than ${MAX_TEXT_BYTES} bytes; shorten it`,
      { field },
    );
  }
  return value;
}

/**
 * Checks instance metadata: at most 64 string keys, values of at most 1 KiB,
 * 8 KiB in all.
 *
 * @param value The metadata to check; undefined means none.
 * @param field The field name used in errors.
 * @returns A fresh copy of the metadata.
 * @throws {ConfigError} Naming the key at fault.
 *
 * @example
 * ```ts
 * import { validateMeta } from "./instance.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(validateMeta({ zone: "eu-1" }), { zone: "eu-1" });
 * assert.throws(() => validateMeta({ zone: 1 }));
 * ```
 */
export function validateMeta(
  value: unknown,
  field = "meta",
): Record<string, string> {
  if (value === undefined) return {};
  if (
    typeof value !== "object" || value === null || Array.isArray(value) ||
    value instanceof Date
  ) {
    throw new ConfigError(
      `Invalid '${field}': expected a table of string values, got ${
        describe(value)
      }`,
      { field },
    );
  }
  const entries = Object.entries(value);
  if (entries.length > MAX_META_KEYS) {
    throw new ConfigError(
      `Invalid '${field}': ${entries.length} keys is more than the ${MAX_META_KEYS} allowed; move bulky data elsewhere`,
      { field },
    );
  }
  const meta: Record<string, string> = {};
  let total = 0;
  for (const [key, item] of entries) {
    const keyField = `${field}.${key}`;
    if (key.length === 0 || encoder.encode(key).length > 128) {
      throw new ConfigError(
        `Invalid '${field}': key ${describe(key)} must be 1 to 128 bytes long`,
        { field: keyField },
      );
    }
    if (typeof item !== "string") {
      throw new ConfigError(
        `Invalid '${keyField}': expected a string, got ${
          describe(item)
        }; quote it`,
        { field: keyField },
      );
    }
    const bytes = encoder.encode(item).length;
    if (bytes > MAX_META_VALUE_BYTES) {
      throw new ConfigError(
        `Invalid '${keyField}': the value is ${bytes} bytes, more than the ${MAX_META_VALUE_BYTES} allowed; shorten it`,
        { field: keyField },
      );
    }
    total += encoder.encode(key).length + bytes;
    meta[key] = item;
  }
  if (total > MAX_META_TOTAL_BYTES) {
    throw new ConfigError(
      `Invalid '${field}': ${total} bytes in all is more than the ${MAX_META_TOTAL_BYTES} allowed; shorten it`,
      { field },
    );
  }
  return meta;
}

/**
 * Makes the default id for a service: `<service>-<hostname>-<random>`. The
 * random part keeps a quickly restarted container (same hostname, same pid)
 * from colliding with its predecessor.
 *
 * @param service The service name.
 * @param hostname The host name; characters not allowed in ids become `-`.
 * @returns A valid, unique id.
 *
 * @example
 * ```ts
 * import { defaultInstanceId } from "./instance.ts";
 * import assert from "node:assert/strict";
 *
 * assert.match(defaultInstanceId("api", "web-1"), /^api-web-1-[0-9a-f]{8}$/);
 * ```
 */
export function defaultInstanceId(service: string, hostname: string): string {
  const host = hostname.replace(/[^A-Za-z0-9._-]+/g, "-").slice(0, 64) ||
    "host";
  const random = crypto.getRandomValues(new Uint8Array(4));
  const suffix = Array.from(random, (b) => b.toString(16).padStart(2, "0"))
    .join("");
  return `${service.slice(0, 54)}-${host}-${suffix}`;
}
