import { describe } from "./_describe.ts";
import { ConfigError, parseDuration } from "../mod.ts";
import { suggestion } from "./_suggestion.ts";

/** `host:port`, with a name, an IPv4 address, or a bracketed IPv6 address. */
export const HOST_PORT = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

/**
 * Reads one nested table of the config (`[cluster.health]`, `[cluster.http]`),
 * so every table reports unknown keys, wrong types and bad durations alike:
 * naming the file, the key, and the variable a value came from.
 */
export class TableReader {
  readonly #table: Record<string, unknown>;
  readonly #file: string;
  readonly #name: string;
  readonly #sources: Map<string, string>;

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
            suggestion(key, keys)
          }; valid keys are ${keys.join(", ")}`,
        );
      }
    }
  }

  has(key: string): boolean {
    return this.#table[key] !== undefined;
  }

  fail(key: string, message: string): never {
    const source = this.#sources.get(`${this.#name}.${key}`);
    const by = source && !source.startsWith("'") ? ` (set by ${source})` : "";
    throw new ConfigError(`'${this.#file}': ${message}${by}`, {
      file: this.#file,
      field: `${this.#name}.${key}`,
    });
  }

  /** A non-empty string; a `secret` one is never echoed in errors. */
  text(key: string, secret = false): string | undefined {
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

  duration(key: string, fallback: number): number {
    const value = this.#table[key];
    if (value === undefined) return fallback;
    const seconds =
      typeof value === "string" && /^\s*\d+(\.\d+)?\s*$/.test(value)
        ? Number(value)
        : value;
    try {
      return parseDuration(seconds, `${this.#name}.${key}`, {
        numberUnit: "s",
      });
    } catch (error) {
      this.fail(key, (error as Error).message);
    }
  }

  /** `true` or `false` (from an environment variable, the same words). */
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

  count(key: string, fallback: number): number {
    const value = this.#table[key];
    if (value === undefined) return fallback;
    const number = typeof value === "string" ? Number(value) : value;
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
