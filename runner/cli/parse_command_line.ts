/**
 * The command line: which command, its flags (each checked against what
 * the command takes), its arguments, and the config it reads.
 *
 * @module
 */

import { parseArgs } from "node:util";
import process from "node:process";
import { ConfigError, resolveRegistryOptions } from "../../mod.ts";
import {
  didYouMean as suggestion,
  parseConfigDuration,
} from "../../contract/config_table.ts";
import { loadConfig, type RunnerConfig } from "../config/config.ts";
import type { OutputFormat } from "../output.ts";
import {
  type Command,
  type CommandArguments,
  type CommandOptions,
  UsageError,
} from "../commands/command.ts";
import { ALIASES, type CommandName, COMMANDS } from "../commands/commands.ts";
import { COMMON, type FlagName, FLAGS } from "./flags.ts";

/** The command line, read. */
export interface ParsedCommandLine extends CommandArguments {
  /** The command. */
  name: CommandName;
  /** The flags given, by name. */
  values: Partial<Record<FlagName, string | boolean>>;
  /** The sidecar's command, after `--`. */
  command: string[] | undefined;
}

/** Checks each flag against the command's, and collects their values. */
function checkFlags(
  tokens: ReturnType<typeof parseArgs>["tokens"] & object,
  name: CommandName,
  values: ParsedCommandLine["values"],
): void {
  const allowed = new Set<string>([
    ...COMMANDS[name].flags,
    ...COMMON,
    "version",
  ]);
  for (const token of tokens) {
    if (token.kind !== "option") continue;
    const flag = token.name in FLAGS
      ? FLAGS[token.name as FlagName]
      : undefined;
    if (!flag || !allowed.has(token.name)) {
      const written = token.rawName;
      const close = suggestion(
        written.replace(/^-+/, ""),
        [...allowed],
      ).replace(/'([^']+)'/, "'--$1'");
      throw new UsageError(
        flag
          ? `'${written}' is not a flag of '${name}'; see roster ${name} --help`
          : `unknown flag '${written}'${close}; see roster ${name} --help`,
      );
    }
    if (flag.type === "string" && token.value === undefined) {
      throw new UsageError(
        `'${token.rawName}' needs a value, such as ${token.rawName} ${
          flag.value === "FILE"
            ? "cluster.toml"
            : flag.value === "DURATION"
            ? "30s"
            : flag.value === "N"
            ? "3"
            : flag.value === "URL"
            ? "redis://127.0.0.1:6379"
            : "api"
        }`,
      );
    }
    if (flag.type === "boolean" && token.value !== undefined) {
      throw new UsageError(`'${token.rawName}' takes no value`);
    }
    values[token.name as FlagName] = token.value ?? true;
  }
}

/**
 * Reads the command line: the command, its flags, and its arguments.
 *
 * @param args The arguments, without the program name.
 * @returns What they say.
 * @throws {UsageError} For an unknown command or flag, or a wrong argument.
 */
export function parseCommandLine(args: string[]): ParsedCommandLine {
  // Everything after "--" is the command a sidecar runs.
  const dash = args.indexOf("--");
  const command = dash < 0 ? undefined : args.slice(dash + 1);
  const { tokens } = parseArgs({
    args: dash < 0 ? args : args.slice(0, dash),
    options: FLAGS,
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  const positionals = tokens.filter((t) => t.kind === "positional").map((t) =>
    t.value
  );
  const given = positionals[0] ?? "run";
  const values: ParsedCommandLine["values"] = {};
  const name = given in COMMANDS ? given as CommandName : ALIASES[given];
  if (name === undefined) {
    throw new UsageError(
      `unknown command '${given}'${
        suggestion(given, [...Object.keys(COMMANDS), ...Object.keys(ALIASES)])
      }; use one of ${Object.keys(COMMANDS).join(", ")} (see --help)`,
    );
  }
  checkFlags(tokens, name, values);
  const spec: Command = COMMANDS[name];
  let read: CommandArguments = {};
  if (values.help) {
    // Help needs no arguments.
  } else if (spec.arguments) {
    read = spec.arguments(positionals.slice(1));
  } else if (positionals.length > 1) {
    throw new UsageError(
      `'${name}' takes no argument '${
        positionals[1]
      }'; flags start with --, and a sidecar's command goes after --`,
    );
  }
  if (command !== undefined && (!spec.takesCommand || command.length === 0)) {
    throw new UsageError(
      command.length === 0
        ? "nothing after '--'; give the command to run, such as -- node server.js"
        : `'--' starts a command only in run mode, not with '${name}'`,
    );
  }
  return { name, values, command, ...read };
}

/** What `--json` / `-o` ask for. */
function outputFormat(values: ParsedCommandLine["values"]): OutputFormat {
  const output = values.output as string | undefined;
  if (output !== undefined && !["table", "wide", "json"].includes(output)) {
    throw new ConfigError(
      `Invalid '--output': '${output}' is not a format${
        suggestion(output, ["table", "wide", "json"])
      }; use table, wide or json`,
      { field: "--output" },
    );
  }
  return values.json ? "json" : (output as OutputFormat) ?? "table";
}

/** The config file, from `--config` or `ROSTER_CONFIG`, with the flags that override it. */
async function readConfig(
  name: CommandName,
  values: ParsedCommandLine["values"],
): Promise<RunnerConfig> {
  const env = process.env as Record<string, string>;
  const file = (values.config as string | undefined) ?? env.ROSTER_CONFIG;
  const flags: Record<string, string> = {};
  if (values["redis-url"] !== undefined) {
    flags["redis.url"] = values["redis-url"] as string;
    flags.driver = "redis";
  }
  if (values.driver !== undefined) flags.driver = values.driver as string;
  if (values.env !== undefined) flags.env = values.env as string;
  if (file === undefined || file === "") {
    if (COMMANDS[name].needsFile) {
      throw new ConfigError(
        `missing --config FILE; pass the TOML file with your [cluster] table, or set ROSTER_CONFIG`,
        { field: "--config" },
      );
    }
    return await loadConfig(undefined, env, flags);
  }
  return await loadConfig(file, env, flags);
}

/**
 * Validates the flags and reads the config, for a command to run with.
 *
 * @param parsed The command line.
 * @returns The command's options.
 * @throws {ConfigError} For a bad flag value or config, naming it.
 */
export async function readCommandOptions(
  parsed: ParsedCommandLine,
): Promise<CommandOptions> {
  const { name, values } = parsed;
  const service = values.service as string | undefined;
  if (service !== undefined) {
    resolveRegistryOptions({ service }, { service: "--service" });
  }
  if (parsed.id !== undefined) {
    resolveRegistryOptions({ id: parsed.id }, { id: "ID" });
  }
  const text = (flag: FlagName) => values[flag] as string | undefined;
  const duration = (flag: FlagName, allowZero = false) =>
    text(flag) === undefined
      ? undefined
      : parseConfigDuration(text(flag), `--${flag}`, { allowZero });
  const options: CommandOptions = {
    config: undefined as unknown as RunnerConfig,
    service,
    all: values.all === true,
    format: outputFormat(values),
    min: count("min", text("min")) ?? 1,
    timeout: duration("timeout"),
    linger: duration("linger", true),
    ttl: duration("ttl"),
    id: parsed.id,
    on: parsed.on ?? false,
    command: parsed.command,
  };
  options.config = await readConfig(name, values);
  COMMANDS[name].check?.(options);
  return options;
}

/** A whole number of at least 1, from a flag. */
function count(flag: FlagName, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 1) {
    throw new ConfigError(
      `Invalid '--${flag}': '${text}' must be a whole number of at least 1`,
      { field: `--${flag}` },
    );
  }
  return Number(text);
}
