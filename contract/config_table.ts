/**
 * Config tables: how the runner reads a `[cluster.<name>]` table of a TOML
 * file (environment overrides merged in), so that every table, a driver's
 * included, reports unknown keys, wrong types and bad values alike, naming
 * the file, the key, the variable a value came from, and the fix. In a
 * config a bare number of a duration is seconds, from a file or a variable.
 *
 * @module
 */

import { describe } from "../_describe.ts";
import { parseDuration } from "../duration.ts";
import { ConfigError } from "../errors.ts";

/** Shows a value inside an error message: quoted, shortened, never huge. */
export { describe as describeValue } from "../_describe.ts";

/**
 * Suggests the closest valid name for a misspelt one.
 *
 * @param wrong The misspelt name.
 * @param valid The valid names.
 * @returns ` (did you mean 'x'?)`-style text, or `""` when nothing is close.
 */
export function didYouMean(wrong: string, valid: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of valid) {
    const distance = levenshtein(wrong.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  const limit = Math.max(2, Math.floor(wrong.length / 2));
  return best !== undefined && bestDistance <= limit
    ? ` (did you mean '${best}'?)`
    : "";
}

function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/**
 * A config duration: a bare number, or a numeric string as environment
 * variables give, is seconds; a string such as `"500ms"` is read as written.
 *
 * @param value The value.
 * @param field The key, named in errors.
 * @param options Whether 0 is allowed.
 * @returns Milliseconds.
 * @throws {ConfigError} When it is not a duration.
 */
export function parseConfigDuration(
  value: unknown,
  field: string,
  options: { allowZero?: boolean } = {},
): number {
  return parseDuration(numeric(value), field, {
    numberUnit: "s",
    allowZero: options.allowZero,
  });
}

/**
 * A config number: a numeric string, as environment variables give, is
 * read as a number; anything else is left for the caller to check.
 *
 * @param value The value.
 * @returns The number, or the value as it was.
 */
export function numeric(value: unknown): unknown {
  return typeof value === "string" && /^\s*\d+(\.\d+)?\s*$/.test(value)
    ? Number(value)
    : value;
}

/** `host:port`, with a name, an IPv4 address, or a bracketed IPv6 address. */
export const HOST_PORT = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

/**
 * Reads one nested table of the config (`[cluster.redis]`,
 * `[cluster.health]`), so every table reports unknown keys, wrong types and
 * bad durations alike: naming the file, the key, and the variable a value
 * came from.
 */
export class ConfigTable {
  readonly #table: Record<string, unknown>;
  readonly #file: string;
  readonly #name: string;
  readonly #sources: Map<string, string>;

  /**
   * Reads a table; an unknown key fails at once.
   *
   * @param table The table, with environment overrides merged in.
   * @param file The config file, named in errors.
   * @param name The table's name under `cluster`, such as `redis`.
   * @param keys Its valid keys.
   * @param sources Where each `<name>.<key>` came from, for errors.
   * @throws {ConfigError} For an unknown key.
   */
  constructor(
    table: Record<string, unknown>,
    file: string,
    name: string,
    keys: readonly string[],
    sources: Map<string, string>,
  ) {
    this.#table = table;
    this.#file = file;
    this.#name = name;
    this.#sources = sources;
    for (const key of Object.keys(table)) {
      if (!keys.includes(key)) {
        this.fail(
          key,
          `Unknown key 'cluster.${name}.${key}'${
            didYouMean(key, keys)
          }; valid keys are ${keys.join(", ")}`,
        );
      }
    }
  }

  /** The table as read, environment overrides included. */
  get raw(): Record<string, unknown> {
    return this.#table;
  }

  /**
   * Whether a key is set.
   *
   * @param key The key.
   * @returns True when set.
   */
  has(key: string): boolean {
    return this.#table[key] !== undefined;
  }

  /**
   * Fails for a key, naming the file and where the value came from.
   *
   * @param key The key.
   * @param message What is wrong and the fix.
   * @throws {ConfigError} Always.
   */
  fail(key: string, message: string): never {
    const source = this.#sources.get(`${this.#name}.${key}`);
    const by = source && !source.startsWith("'") ? ` (set by ${source})` : "";
    throw new ConfigError(`'${this.#file}': ${message}${by}`, {
      file: this.#file,
      field: `${this.#name}.${key}`,
    });
  }

  /**
   * A non-empty string; a secret one is never echoed in errors.
   *
   * @param key The key.
   * @param options Whether the value is a secret.
   * @returns The string, or undefined when unset.
   */
  text(
    key: string,
    options: { secret?: boolean } = {},
  ): string | undefined {
    const secret = options.secret ?? false;
    const value = this.#table[key];
    if (value === undefined) return undefined;
    if (typeof value !== "string" || value === "") {
      this.fail(
        key,
        `Invalid '${this.#name}.${key}': expected a non-empty string, got ${
          secret ? "a value of another type" : describe(value)
        }`,
      );
    }
    return value as string;
  }

  /**
   * A duration; a bare number is seconds.
   *
   * @param key The key.
   * @param fallback Its value when unset.
   * @param options Whether 0 is allowed.
   * @returns Milliseconds.
   */
  duration(
    key: string,
    fallback: number,
    options: { allowZero?: boolean } = {},
  ): number {
    const value = this.#table[key];
    if (value === undefined) return fallback;
    try {
      return parseConfigDuration(value, `${this.#name}.${key}`, options);
    } catch (error) {
      this.fail(key, (error as Error).message);
    }
  }

  /**
   * A non-empty list of strings that each match `pattern`; from an
   * environment variable, comma-separated.
   *
   * @param key The key.
   * @param pattern What each item must match.
   * @param example What a valid list looks like, for the error.
   * @returns The list, or undefined when unset.
   */
  list(key: string, pattern: RegExp, example: string): string[] | undefined {
    const value = this.#table[key];
    if (value === undefined) return undefined;
    const list = typeof value === "string"
      ? value.split(",").map((item) => item.trim()).filter(Boolean)
      : value;
    if (
      !Array.isArray(list) || list.length === 0 ||
      !list.every((item) => typeof item === "string" && pattern.test(item))
    ) {
      this.fail(
        key,
        `Invalid '${this.#name}.${key}': ${
          describe(value)
        } must be a non-empty list of ${example}`,
      );
    }
    return list as string[];
  }

  /**
   * `true` or `false` (from an environment variable, the same words).
   *
   * @param key The key.
   * @param fallback Its value when unset.
   * @returns The flag.
   */
  flag(key: string, fallback: boolean): boolean {
    const value = this.#table[key];
    if (value === undefined) return fallback;
    if (value === true || value === "true") return true;
    if (value === false || value === "false") return false;
    this.fail(
      key,
      `Invalid '${this.#name}.${key}': ${
        describe(value)
      } must be true or false`,
    );
  }

  /**
   * A whole number of at least 1.
   *
   * @param key The key.
   * @param fallback Its value when unset.
   * @returns The number.
   */
  count(key: string, fallback: number): number {
    const value = this.#table[key];
    if (value === undefined) return fallback;
    // From a variable only digits count: not "0x10", "1e1" or "".
    const number = typeof value === "string"
      ? /^\s*\d+\s*$/.test(value) ? Number(value) : NaN
      : value;
    if (typeof number !== "number" || !Number.isInteger(number) || number < 1) {
      this.fail(
        key,
        `Invalid '${this.#name}.${key}': ${
          describe(value)
        } must be a whole number of at least 1`,
      );
    }
    return number as number;
  }
}
