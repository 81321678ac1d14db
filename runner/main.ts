/**
 * The roster runner: registers any process from a TOML `[cluster]` table,
 * checks a config, and lists, watches, waits for and elects live instances.
 *
 * ```sh
 * deno run -A runner/main.ts --config cluster.toml          # run
 * deno run -A runner/main.ts check --config cluster.toml    # validate only
 * deno run -A runner/main.ts list --redis-url redis://127.0.0.1:6379 --service api
 * ```
 *
 * Exit codes: 0 success, 1 failure at run time, 2 bad config or usage,
 * 130 interrupted.
 *
 * @module
 */

import process from "node:process";
import { VERSION } from "../version.ts";
import { ConfigError } from "../mod.ts";
import { commandHelp, HELP } from "./cli/help.ts";
import {
  parseCommandLine,
  type ParsedCommandLine,
  readCommandOptions,
} from "./cli/parse_command_line.ts";
import { type CommandOptions, UsageError } from "./commands/command.ts";
import { ALIASES, COMMANDS } from "./commands/commands.ts";
import { configureRunnerLogging } from "./logging.ts";
import { fail, out, setJsonLines } from "./output.ts";

/**
 * Runs the runner with command-line arguments.
 *
 * @param args The arguments, without the program name.
 * @returns The exit code.
 */
export async function main(args: string[]): Promise<number> {
  let parsed: ParsedCommandLine;
  try {
    parsed = parseCommandLine(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    fail(error.message);
    return 2;
  }
  const { name, values } = parsed;
  if (values.help) {
    out(
      args.some((a) => a in COMMANDS || a in ALIASES)
        ? commandHelp(name)
        : HELP,
    );
    return 0;
  }
  if (values.version) {
    out(`roster ${VERSION}`);
    return 0;
  }
  const logFormat = (values["log-format"] as string | undefined) ?? "text";
  // For run and serve, whose output is status lines, --json makes them JSON.
  setJsonLines(
    logFormat === "json" ||
      ((values.json === true || values.output === "json") &&
        (name === "run" || name === "serve")),
  );
  let options: CommandOptions;
  try {
    await configureRunnerLogging(
      (values["log-level"] as string | undefined) ?? "info",
      logFormat,
    );
    options = await readCommandOptions(parsed);
  } catch (error) {
    if (error instanceof ConfigError) {
      fail(error.message);
      return 2;
    }
    throw error;
  }
  return await COMMANDS[name].run(options);
}

if (import.meta.main) {
  process.exit(await main(process.argv.slice(2)));
}
