/**
 * What a runner command is: its help, the flags it takes, the arguments it
 * reads, and what it does. `commands.ts` lists them, one line each.
 *
 * @module
 */

import type { FlagName } from "../cli/flags.ts";
import type { RunnerConfig } from "../config/config.ts";
import type { OutputFormat } from "../output.ts";

/** A usage mistake: exit 2 with this message. */
export class UsageError extends Error {}

/** What a command runs with: the validated config and flags. */
export interface CommandOptions {
  /** The validated config. */
  config: RunnerConfig;
  /** `--service`, validated. */
  service: string | undefined;
  /** `--all`. */
  all: boolean;
  /** `-o` / `--json`. */
  format: OutputFormat;
  /** `--min`, 1 by default. */
  min: number;
  /** `--timeout`, in ms, when given. */
  timeout: number | undefined;
  /** `--linger`, in ms, when given. */
  linger: number | undefined;
  /** `--ttl`, in ms, when given. */
  ttl: number | undefined;
  /** The instance id `drain` and `maintenance` take. */
  id: string | undefined;
  /** `maintenance`: on, or off. */
  on: boolean;
  /** The sidecar's command, after `--`. */
  command: string[] | undefined;
}

/** The positional arguments a command read, beyond its name. */
export interface CommandArguments {
  /** An instance id. */
  id?: string;
  /** On, or off. */
  on?: boolean;
}

/** A command of the runner. */
export interface Command {
  /** Its usage line. */
  usage: string;
  /** What it does; the first clause is its line in `--help`. */
  summary: string;
  /** The flags it takes, beyond every command's. */
  flags: readonly FlagName[];
  /** An example invocation. */
  example: string;
  /** Whether it needs a config file (others can read from flags alone). */
  needsFile?: boolean;
  /** Whether it takes a command after `--` (sidecar mode). */
  takesCommand?: boolean;
  /**
   * Reads its positional arguments.
   *
   * @param positionals The arguments after its name.
   * @returns What they say.
   * @throws {UsageError} When they are wrong.
   */
  arguments?(positionals: string[]): CommandArguments;
  /**
   * Checks what it needs beyond each flag's own validity.
   *
   * @param options The validated config and flags.
   * @throws {ConfigError} Naming what is missing.
   */
  check?(options: CommandOptions): void;
  /**
   * Runs it.
   *
   * @param options The validated config and flags.
   * @returns The exit code.
   */
  run(options: CommandOptions): Promise<number>;
}
