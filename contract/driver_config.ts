/**
 * What a driver offers the runner: its `[cluster.<name>]` table (read with
 * a {@linkcode ConfigTable}, so environment overrides such as
 * `ROSTER_<NAME>_<KEY>` and every error work alike), and how it connects.
 * The runner keeps one table of them; adding a driver is a folder with a
 * `config.ts` and one line there.
 *
 * @module
 */

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
