/**
 * What a driver offers the runner: its `[cluster.<name>]` table (read with
 * a {@linkcode ConfigTable}, so environment overrides such as
 * `ROSTER_<NAME>_<KEY>` and every error work alike), and how it connects.
 * The runner keeps one table of them; adding a driver is a folder with a
 * `config.ts` and one line there.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import type { ConfigTable } from "./config_table.ts";
import type { Driver } from "./driver.ts";

/** How the registry's timing bounds a driver's calls. */
export interface DriverTiming {
  /** How long one heartbeat may take, in ms: a call may take no longer. */
  heartbeatTimeout: number;
}

/**
 * A driver's config entry.
 *
 * @typeParam Options What its table validates into.
 */
export interface DriverConfig<Options = unknown> {
  /** The name `driver` takes, and its table's: `[cluster.<name>]`. */
  readonly name: string;
  /**
   * Whether processes share what it stores. A driver that does not (the
   * in-memory one) serves a process's discovery through the heartbeat's
   * own driver; one that does gets a connection of its own for reads.
   */
  readonly shared: boolean;
  /** The valid keys of its table. */
  readonly keys: readonly string[];
  /**
   * The command-line flag that sets a key, such as `--redis-url` for `url`,
   * for the commands that only read.
   */
  readonly flags?: Readonly<Record<string, string>>;
  /**
   * Validates the table, environment overrides merged in.
   *
   * @param table The table.
   * @returns The driver's connect options.
   * @throws {ConfigError} Naming the key and the fix.
   */
  parse(table: ConfigTable): Options;
  /**
   * Connects. A driver's client library is loaded only here, so a config
   * that names another driver never loads it.
   *
   * @param options What `parse` returned.
   * @param timing The registry's timing.
   * @returns A connected driver; close it when done.
   */
  connect(options: Options, timing: DriverTiming): Promise<Driver>;
}

/**
 * Loads a driver's module, whose client library is an optional package of
 * the npm package (installed beside it only by those who choose that
 * driver): a missing one is a {@linkcode ConfigError} that names it and
 * how to install it, not a bare module-not-found error.
 *
 * @typeParam T The module.
 * @param driver The driver's name, for the error.
 * @param pkg The npm package its client library is.
 * @param load Imports the module.
 * @returns The module.
 * @throws {ConfigError} When `pkg` is not installed.
 *
 * @example
 * ```ts
 * import { loadDriverModule } from "./driver_config.ts";
 * import assert from "node:assert/strict";
 *
 * const missing = Object.assign(
 *   new Error("Cannot find package 'pg' imported from /app/x.js"),
 *   { code: "ERR_MODULE_NOT_FOUND" },
 * );
 * await assert.rejects(
 *   loadDriverModule("postgres", "pg", () => Promise.reject(missing)),
 *   /npm install pg/,
 * );
 * ```
 */
export async function loadDriverModule<T>(
  driver: string,
  pkg: string,
  load: () => Promise<T>,
): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    if (
      code === "ERR_MODULE_NOT_FOUND" && String(message).includes(`'${pkg}'`)
    ) {
      throw new ConfigError(
        `Cannot use the '${driver}' driver: its client library, the npm package '${pkg}', is not installed; install it beside roster with 'npm install ${pkg}'`,
        { field: "driver", cause: error },
      );
    }
    throw error;
  }
}
