/**
 * The runner's flags: each flag once, with its type, short form and help,
 * and the sets every command or every reading command takes.
 *
 * @module
 */

import { DRIVER_NAMES } from "../config/drivers.ts";
import { LOG_LEVELS } from "../logging.ts";

/** A flag: its parse type, short form, value name and help. */
export interface Flag {
  type: "string" | "boolean";
  short?: string;
  value?: string;
  help: string;
}

/** Every flag, by name. */
export const FLAGS = {
  config: {
    type: "string",
    short: "c",
    value: "FILE",
    help: "the TOML file with a [cluster] table (default: $ROSTER_CONFIG)",
  },
  driver: {
    type: "string",
    value: "NAME",
    help: `the driver: ${DRIVER_NAMES.join(", ")} (overrides the file)`,
  },
  "redis-url": {
    type: "string",
    value: "URL",
    help:
      "the Redis to read, such as redis://127.0.0.1:6379 (implies --driver redis)",
  },
  env: {
    type: "string",
    value: "NAME",
    help: "the environment to read (default: default)",
  },
  service: {
    type: "string",
    short: "s",
    value: "NAME",
    help: "the service",
  },
  all: {
    type: "boolean",
    help: "instances that take no work too (unhealthy, draining, maintenance)",
  },
  output: {
    type: "string",
    short: "o",
    value: "FORMAT",
    help: "table, wide (with meta, for list and wait) or json",
  },
  json: { type: "boolean", help: "JSON output (the same as -o json)" },
  min: { type: "string", value: "N", help: "how many instances (default 1)" },
  timeout: {
    type: "string",
    value: "DURATION",
    help: "how long to try, such as 30s",
  },
  "log-level": {
    type: "string",
    value: "LEVEL",
    help: `${LOG_LEVELS.join(", ")} (default: info)`,
  },
  "log-format": {
    type: "string",
    value: "FORMAT",
    help: "text, or json for one JSON object a line, stdout included",
  },
  linger: {
    type: "string",
    value: "DURATION",
    help: "how long it stays listed as draining (default: its drain_timeout)",
  },
  ttl: {
    type: "string",
    value: "DURATION",
    help: "how long maintenance lasts unless turned off (default 1h)",
  },
  help: { type: "boolean", short: "h", help: "show help" },
  version: { type: "boolean", short: "V", help: "show the version" },
} as const satisfies Record<string, Flag>;
/** A flag's name. */
export type FlagName = keyof typeof FLAGS;

/** Flags every command takes. */
export const COMMON: FlagName[] = [
  "config",
  "output",
  "json",
  "log-level",
  "log-format",
  "help",
];
/** Flags that say where to read, for commands that only read. */
export const SOURCE: FlagName[] = ["driver", "redis-url", "env"];

/**
 * The help lines of some flags, aligned.
 *
 * @param names The flags.
 * @returns One line per flag.
 */
export function flagLines(names: readonly FlagName[]): string {
  const rows = names.map((name) => {
    const flag: Flag = FLAGS[name];
    const short = flag.short ? `-${flag.short}, ` : "    ";
    return [
      `  ${short}--${name}${flag.value ? ` ${flag.value}` : ""}`,
      flag.help,
    ];
  });
  const width = Math.max(...rows.map(([left]) => left!.length)) + 2;
  return rows.map(([left, help]) => `${left!.padEnd(width)}${help}`).join(
    "\n",
  );
}
