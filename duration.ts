/**
 * Durations as roster reads and prints them: `"250ms"`, `"5s"`, `"1m30s"`,
 * `"1h"`, or a number.
 *
 * @module
 */

import { describe } from "./_describe.ts";
import { ConfigError } from "./errors.ts";

/** A duration: milliseconds as a number, or a string such as `"1m30s"`. */
export type Duration = number | string;

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};
const PART = /(\d+(?:\.\d+)?)(ms|h|m|s)/y;
// Far beyond any sane ttl or timeout, well below where timers overflow, and
// written the way the parser reads it, so the message can quote it.
const MAX_MS = 24 * 3_600_000;

/** How {@linkcode parseDuration} reads a value. */
export interface ParseDurationOptions {
  /**
   * What a bare number means: `"ms"` (the API's default) or `"s"` (config
   * files and the command line).
   */
  numberUnit?: "ms" | "s";
  /** Whether 0 (`0`, `"0s"`) is allowed, as for a linger. */
  allowZero?: boolean;
}

/**
 * Parses a duration into whole milliseconds.
 *
 * A number is taken as `numberUnit` (milliseconds unless told otherwise); a
 * string is one or more `<number><unit>` parts with units `ms`, `s`, `m`, `h`.
 *
 * @param value The duration to parse.
 * @param field The option or key it came from, named in errors.
 * @param options What a bare number means, and whether 0 is allowed. The
 *   older form, a unit and then `allowZero`, is deprecated.
 * @param legacyAllowZero Deprecated: pass `{ allowZero }` instead.
 * @returns The duration in milliseconds, greater than zero unless allowed.
 * @throws {ConfigError} When the value is not a positive duration.
 *
 * @example
 * ```ts
 * import { parseDuration } from "@roster/roster";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseDuration("1m30s", "ttl"), 90_000);
 * assert.equal(parseDuration(250, "ttl"), 250);
 * assert.equal(parseDuration(5, "ttl", { numberUnit: "s" }), 5000);
 * assert.equal(parseDuration("0s", "linger", { allowZero: true }), 0);
 * ```
 */
export function parseDuration(
  value: unknown,
  field: string,
  options: ParseDurationOptions | "ms" | "s" = {},
  legacyAllowZero?: boolean,
): number {
  const { numberUnit = "ms", allowZero = false } = typeof options === "string"
    ? { numberUnit: options, allowZero: legacyAllowZero }
    : options;
  let ms: number;
  if (typeof value === "number") {
    ms = value * (numberUnit === "s" ? 1000 : 1);
  } else if (typeof value === "string") {
    ms = parseDurationString(value.trim(), field);
  } else {
    throw new ConfigError(
      `Invalid '${field}': expected a duration like "5s" or a number of ${
        numberUnit === "s" ? "seconds" : "milliseconds"
      }, got ${describe(value)}`,
      { field },
    );
  }
  if (allowZero && ms === 0) return 0;
  if (!Number.isFinite(ms) || ms < 1 || ms > MAX_MS) {
    throw new ConfigError(
      `Invalid '${field}': ${describe(value)} must be a duration between ${
        allowZero ? "0s" : "1ms"
      } and 24h, such as "5s"`,
      { field },
    );
  }
  return Math.round(ms);
}

function parseDurationString(text: string, field: string): number {
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const start = PART.lastIndex;
    const match = PART.exec(text);
    if (!match) {
      PART.lastIndex = start;
      throw new ConfigError(
        `Invalid '${field}': '${
          text.slice(0, 64)
        }' is not a duration; write it like "250ms", "5s", "1m30s" or "1h"`,
        { field },
      );
    }
    total += Number(match[1]) * (UNIT_MS[match[2] as string] as number);
  }
  if (text.length === 0) {
    throw new ConfigError(
      `Invalid '${field}': the empty string is not a duration; write it like "5s"`,
      { field },
    );
  }
  return total;
}

/**
 * Formats milliseconds the way durations are written in config files.
 *
 * @param ms The duration in milliseconds.
 * @returns A string such as `"250ms"`, `"5s"` or `"1m30s"`.
 *
 * @example
 * ```ts
 * import { formatDuration } from "@roster/roster";
 * import assert from "node:assert/strict";
 *
 * assert.equal(formatDuration(90_000), "1m30s");
 * assert.equal(formatDuration(1500), "1.5s");
 * ```
 */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = (ms % 60_000) / 1000;
  let out = "";
  if (hours) out += `${hours}h`;
  if (minutes) out += `${minutes}m`;
  if (seconds) out += `${Number(seconds.toFixed(3))}s`;
  return out;
}
