/**
 * The runner's help: the command list, and each command's flags and example.
 *
 * @module
 */

import { VERSION } from "../../version.ts";
import type { Command } from "../commands/command.ts";
import { type CommandName, COMMANDS } from "../commands/commands.ts";
import { COMMON, flagLines } from "./flags.ts";

/** `roster --help`. */
export const HELP: string =
  `roster ${VERSION}: service-instance heartbeats and a cluster registry

Usage: roster [COMMAND] [FLAGS]

Commands:
${
    Object.entries(COMMANDS).map(([name, spec]) =>
      `  ${name.padEnd(13)}${spec.summary.split(";")[0]}`
    ).join("\n")
  }
  (dashboard is serve, doctor is status)

Flags for every command:
${flagLines([...COMMON, "version"])}

'roster COMMAND --help' shows a command's flags and an example.

Environment: ROSTER_CONFIG names the config file; ROSTER_<KEY> overrides
[cluster] keys (ROSTER_TTL=15s, ROSTER_META_ZONE=eu-1, ROSTER_REDIS_URL=...).

Exit codes: 0 success, 1 failure at run time, 2 bad config or usage,
130 interrupted.`;

/**
 * `roster COMMAND --help`.
 *
 * @param name The command.
 * @returns Its help.
 */
export function commandHelp(name: CommandName): string {
  const spec: Command = COMMANDS[name];
  return `Usage: ${spec.usage}

${spec.summary[0]!.toUpperCase()}${spec.summary.slice(1)}.

Flags:
${flagLines([...spec.flags, ...COMMON])}

Example:
  ${spec.example}`;
}
