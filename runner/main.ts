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

import { parseArgs } from "node:util";
import process from "node:process";
import { VERSION } from "../version.ts";
import { ConfigError, formatDuration, resolveRegistryOptions } from "../mod.ts";
import {
  didYouMean as suggestion,
  parseConfigDuration,
} from "../contract/config_table.ts";
import { fail, out, report, setJsonLines } from "./_output.ts";
import { loadConfig, type RunnerConfig } from "./config/config.ts";
import { DRIVER_NAMES } from "./config/drivers.ts";
import {
  leaderCommand,
  listCommand,
  serveCommand,
  statusCommand,
  waitCommand,
  watchCommand,
} from "./discovery_commands.ts";
import { configureRunnerLogging, LOG_LEVELS } from "./logging.ts";
import { requestCommand } from "./instance_requests.ts";
import { runCommand } from "./run_command.ts";

/** A flag: its parse type, short form, value name and help. */
interface Flag {
  type: "string" | "boolean";
  short?: string;
  value?: string;
  help: string;
}

const FLAGS = {
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
    help: "table, wide (with meta) or json",
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
type FlagName = keyof typeof FLAGS;

/** Flags every command takes. */
const COMMON: FlagName[] = [
  "config",
  "json",
  "log-level",
  "log-format",
  "help",
];
/** Flags that say where to read, for commands that only read. */
const SOURCE: FlagName[] = ["driver", "redis-url", "env"];

interface CommandSpec {
  usage: string;
  summary: string;
  flags: FlagName[];
  example: string;
}

const COMMANDS = {
  run: {
    usage: "roster [run] --config FILE [-- COMMAND [ARGS...]]",
    summary:
      "register this process and heartbeat until SIGTERM, SIGINT, SIGHUP or a roster drain request, then drain for drain_timeout and deregister; with a COMMAND, run it as a sidecar: register it once healthy; on a stop drain, pass the signal on, wait for it, deregister, and exit with its code",
    flags: [],
    example: "roster run --config cluster.toml -- node server.js",
  },
  check: {
    usage: "roster check --config FILE",
    summary:
      "validate the config and exit (0 valid, 2 invalid); a config without a service is valid for the commands that only read",
    flags: [],
    example: "roster check --config cluster.toml",
  },
  list: {
    usage: "roster list [--service S] [--all] [-o wide|json]",
    summary: "list live instances, grouped by service",
    flags: [...SOURCE, "service", "all", "output"],
    example: "roster list --redis-url redis://127.0.0.1:6379 -s api -o wide",
  },
  watch: {
    usage: "roster watch [--service S] [--json]",
    summary:
      "print the live instances, then every join, update and leave, until Ctrl-C",
    flags: [...SOURCE, "service"],
    example: "roster watch --config cluster.toml --service api --json",
  },
  leader: {
    usage: "roster leader --service S [--timeout 10s]",
    summary:
      "print the leader (the oldest live instance that takes work); exit 1 if there is none",
    flags: [...SOURCE, "service", "timeout"],
    example: "roster leader --config cluster.toml --service api",
  },
  wait: {
    usage: "roster wait --service S [--min N] [--timeout 30s]",
    summary:
      "wait until N instances are live; exit 0 when they are, 1 on timeout, 130 on Ctrl-C",
    flags: [...SOURCE, "service", "min", "timeout"],
    example: "roster wait --config cluster.toml --service api --min 3",
  },
  status: {
    usage: "roster status [--timeout 5s]",
    summary:
      "check the backend: reachable, latency, server version, clock offset, the env's entries and change log; exit 1 with the problem in one line",
    flags: [...SOURCE, "timeout"],
    example: "roster status --redis-url redis://127.0.0.1:6379",
  },
  drain: {
    usage: "roster drain ID [--linger 30s] [--timeout 10s]",
    summary:
      "ask the runner of a live instance to drain: it is listed as draining and takes no new work, then stops (a sidecar signals its command and deregisters once it exits); exit 0 once it is draining, 1 if it is not live or no runner answers",
    flags: [...SOURCE, "linger", "timeout"],
    example:
      "roster drain api-web-1-3f2a9c01 --config cluster.toml --linger 30s",
  },
  maintenance: {
    usage: "roster maintenance ID on|off [--ttl 30m]",
    summary:
      "ask the runner of a live instance to enter maintenance (listed, but it takes no work) until turned off or the ttl passes, so a crashed script cannot leave it on; exit 0 once the backend shows it, 1 otherwise",
    flags: [...SOURCE, "ttl", "timeout"],
    example:
      "roster maintenance api-web-1-3f2a9c01 on --ttl 30m --config cluster.toml",
  },
  serve: {
    usage: "roster serve --config FILE",
    summary:
      "run the status server and dashboard of [cluster.http], registering nothing",
    flags: [...SOURCE],
    example: "roster serve --config cluster.toml",
  },
} as const satisfies Record<string, CommandSpec>;
type CommandName = keyof typeof COMMANDS;
/** Other names commands answer to. */
const ALIASES: Record<string, CommandName> = {
  dashboard: "serve",
  doctor: "status",
};

function flagLines(names: readonly FlagName[]): string {
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

const HELP =
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

function commandHelp(name: CommandName): string {
  const spec: CommandSpec = COMMANDS[name];
  return `Usage: ${spec.usage}

${spec.summary[0]!.toUpperCase()}${spec.summary.slice(1)}.

Flags:
${flagLines([...spec.flags, ...COMMON])}

Example:
  ${spec.example}`;
}

/** A usage mistake: exit 2 with this message. */
class UsageError extends Error {}

interface Parsed {
  name: CommandName;
  values: Partial<Record<FlagName, string | boolean>>;
  command: string[] | undefined;
  /** The instance id `drain` and `maintenance` take. */
  id?: string;
  /** `maintenance`: on, or off. */
  on?: boolean;
}

/** Checks each flag against the command's, and collects their values. */
function checkFlags(
  tokens: ReturnType<typeof parseArgs>["tokens"] & object,
  name: CommandName,
  values: Parsed["values"],
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

function parse(args: string[]): Parsed {
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
  const values: Parsed["values"] = {};
  const name = given in COMMANDS ? given as CommandName : ALIASES[given];
  if (name === undefined) {
    throw new UsageError(
      `unknown command '${given}'${
        suggestion(given, [...Object.keys(COMMANDS), ...Object.keys(ALIASES)])
      }; use one of ${Object.keys(COMMANDS).join(", ")} (see --help)`,
    );
  }
  checkFlags(tokens, name, values);
  if (values.help) {
    // Help needs no id.
  } else if (name === "drain") {
    if (positionals.length !== 2) {
      throw new UsageError(
        positionals.length < 2
          ? "'drain' needs the id of the instance to drain, such as roster drain api-web-1-3f2a9c01"
          : `'drain' takes one id, not '${positionals[2]}' too`,
      );
    }
  } else if (name === "maintenance") {
    const [, id, onOff, extra] = positionals;
    if (id === undefined || (onOff !== "on" && onOff !== "off") || extra) {
      throw new UsageError(
        extra
          ? `'maintenance' takes an id and on or off, not '${extra}' too`
          : `'maintenance' needs an id and on or off, such as roster maintenance api-7 on --ttl 30m${
            onOff === undefined ? "" : `; '${onOff}' is neither`
          }`,
      );
    }
  } else if (positionals.length > 1) {
    throw new UsageError(
      `'${name}' takes no argument '${
        positionals[1]
      }'; flags start with --, and a sidecar's command goes after --`,
    );
  }
  if (command !== undefined && (name !== "run" || command.length === 0)) {
    throw new UsageError(
      command.length === 0
        ? "nothing after '--'; give the command to run, such as -- node server.js"
        : `'--' starts a command only in run mode, not with '${name}'`,
    );
  }
  return {
    name,
    values,
    command,
    ...(name === "drain" || name === "maintenance"
      ? { id: positionals[1], on: positionals[2] === "on" }
      : {}),
  };
}

/** What `--json` / `-o` ask for. */
type OutputFormat = "table" | "wide" | "json";

function outputFormat(values: Parsed["values"]): OutputFormat {
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
  values: Parsed["values"],
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
    if (name === "run" || name === "check" || name === "serve") {
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
 * Runs the runner with command-line arguments.
 *
 * @param args The arguments, without the program name.
 * @returns The exit code.
 */
export async function main(args: string[]): Promise<number> {
  let parsed: Parsed;
  try {
    parsed = parse(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    fail(error.message);
    return 2;
  }
  const { name, values, command, id, on } = parsed;
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
      (values.json === true && (name === "run" || name === "serve")),
  );
  let config: RunnerConfig;
  let format: OutputFormat;
  let min = 1;
  let timeout: number | undefined;
  let linger: number | undefined;
  let ttl: number | undefined;
  const service = values.service as string | undefined;
  try {
    await configureRunnerLogging(
      (values["log-level"] as string | undefined) ?? "info",
      logFormat,
    );
    format = outputFormat(values);
    if (service !== undefined) {
      resolveRegistryOptions({ service }, { service: "--service" });
    }
    if ((name === "leader" || name === "wait") && !service) {
      throw new ConfigError(
        `'${name}' needs --service NAME: the service to ${
          name === "leader" ? "find the leader of" : "wait for"
        }`,
        { field: "--service" },
      );
    }
    if (values.min !== undefined) {
      const text = values.min as string;
      min = Number(text);
      if (!/^\d+$/.test(text) || min < 1) {
        throw new ConfigError(
          `Invalid '--min': '${text}' must be a whole number of at least 1`,
          { field: "--min" },
        );
      }
    }
    if (values.timeout !== undefined) {
      timeout = parseConfigDuration(values.timeout as string, "--timeout");
    }
    if (values.linger !== undefined) {
      linger = parseConfigDuration(values.linger as string, "--linger", {
        allowZero: true,
      });
    }
    if (values.ttl !== undefined) {
      ttl = parseConfigDuration(values.ttl as string, "--ttl");
    }
    if (id !== undefined) resolveRegistryOptions({ id }, { id: "ID" });
    config = await readConfig(name, values);
    if (name === "serve" && !config.http) {
      throw new ConfigError(
        `'${config.file}': 'serve' needs a [cluster.http] table; add one with listen = "127.0.0.1:9090"`,
        { file: config.file, field: "http" },
      );
    }
    if (name === "run" && config.resolved.service === undefined) {
      throw new ConfigError(
        `'${config.file}': 'service' is required to register; add service = "api" to [cluster]`,
        { file: config.file, field: "service" },
      );
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      fail(error.message);
      return 2;
    }
    throw error;
  }
  const json = format === "json";
  switch (name) {
    case "check":
      if (json) {
        out(
          JSON.stringify({ valid: true, file: config.file, ...facts(config) }),
        );
      } else {
        report(
          "valid",
          `'${config.file}' is valid (${
            Object.entries(facts(config)).map(([k, v]) => `${k}=${v}`).join(
              " ",
            )
          })${
            config.resolved.service === undefined
              ? "; with no service it can only read, not run"
              : ""
          }`,
          { file: config.file, ...facts(config) },
        );
      }
      return 0;
    case "run":
      return await runCommand(config, command);
    case "list":
      return await listCommand(config, service, format, values.all === true);
    case "watch":
      return await watchCommand(config, service, json);
    case "leader":
      return await leaderCommand(
        config,
        service as string,
        timeout ?? 10_000,
        json,
      );
    case "serve":
      return await serveCommand(config);
    case "wait":
      return await waitCommand(
        config,
        service as string,
        min,
        timeout ?? 30_000,
        format,
      );
    case "status":
      return await statusCommand(config, timeout ?? 5_000, json);
    case "drain":
      return await requestCommand(
        config,
        id as string,
        { kind: "drain", ...(linger === undefined ? {} : { linger }) },
        { timeout: timeout ?? 10_000, json },
      );
    case "maintenance":
      return await requestCommand(
        config,
        id as string,
        {
          kind: "maintenance",
          on: on === true,
          ...(ttl === undefined ? {} : { ttl }),
        },
        { timeout: timeout ?? 10_000, json },
      );
  }
}

function facts(config: RunnerConfig): Record<string, string> {
  const { resolved } = config;
  return {
    ...(resolved.service ? { service: resolved.service } : {}),
    env: resolved.env,
    driver: config.driver,
    interval: formatDuration(resolved.heartbeatInterval),
    ttl: formatDuration(resolved.ttl),
  };
}

if (import.meta.main) {
  process.exit(await main(process.argv.slice(2)));
}
