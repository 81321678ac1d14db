/**
 * The roster runner: registers any process from a TOML `[cluster]` table,
 * checks a config, and lists live instances.
 *
 * ```sh
 * deno run -A runner/main.ts --config cluster.toml          # run
 * deno run -A runner/main.ts check --config cluster.toml    # validate only
 * deno run -A runner/main.ts list --config cluster.toml --service api --json
 * ```
 *
 * Exit codes: 0 success, 1 failure at run time, 2 bad config or usage.
 *
 * @module
 */

import { parseArgs } from "node:util";
import denoJson from "../deno.json" with { type: "json" };
import {
  ConfigError,
  formatDuration,
  parseDuration,
  resolveRegistryOptions,
} from "../mod.ts";
import { fail, out } from "./_cli.ts";
import { loadConfig, type RunnerConfig } from "./config.ts";
import {
  leaderCommand,
  listCommand,
  serveCommand,
  waitCommand,
  watchCommand,
} from "./discovery_commands.ts";
import { configureRunnerLogging, LOG_FORMATS, LOG_LEVELS } from "./logging.ts";
import { runCommand } from "./run_command.ts";

const HELP =
  `roster ${denoJson.version}: service-instance heartbeats and a cluster registry

Usage:
  roster [run] --config FILE        register this process and heartbeat until SIGTERM or SIGINT
  roster [run] --config FILE -- COMMAND [ARGS...]
                                    sidecar: run COMMAND, register it once healthy, deregister
                                    before passing SIGTERM/SIGINT on; exit with its code
  roster check --config FILE        validate the config and exit (0 valid, 2 invalid)
  roster list --config FILE [--service S] [--json] [--all]
                                    list live instances (--all: unhealthy ones too)
  roster watch --config FILE [--service S] [--json]
                                    print the live instances, then every join, update and leave
  roster leader --config FILE --service S [--timeout 10s] [--json]
                                    print the leader (the oldest live instance); exit 1 if none
  roster wait --config FILE --service S [--min N] [--timeout 30s]
                                    wait for N live instances; exit 0 when there, 1 on timeout
  roster serve --config FILE        the status server and dashboard of [cluster.http],
                                    registering nothing (also: dashboard)

Options:
  -c, --config FILE      the TOML file with a [cluster] table (required)
  -s, --service NAME     the service to list, watch, elect or wait for
      --json             JSON output (watch: one object a line)
      --min N            wait: how many instances (default 1)
      --timeout DURATION wait: how long, such as "30s" (default 30s);
                         leader: how long to try to read the registry (default 10s)
      --log-level LEVEL  ${LOG_LEVELS.join(", ")} (default: info)
      --log-format FMT   ${LOG_FORMATS.join(", ")} (default: text)
  -h, --help             show this help
  -V, --version          show the version

Environment: ROSTER_<KEY> overrides [cluster] keys (ROSTER_TTL=15s,
ROSTER_META_ZONE=eu-1, ROSTER_REDIS_URL=redis://...).

Exit codes: 0 success, 1 failure at run time, 2 bad config or usage.`;

const COMMANDS = [
  "run",
  "check",
  "list",
  "watch",
  "leader",
  "wait",
  "serve",
  "dashboard",
] as const;
type Command = typeof COMMANDS[number];

/**
 * Runs the runner with command-line arguments.
 *
 * @param args The arguments, without the program name.
 * @returns The exit code.
 */
export async function main(args: string[]): Promise<number> {
  // Everything after "--" is the command a sidecar runs.
  const dash = args.indexOf("--");
  const command = dash < 0 ? undefined : args.slice(dash + 1);
  let parsed;
  try {
    parsed = parseArgs({
      args: dash < 0 ? args : args.slice(0, dash),
      allowPositionals: true,
      options: {
        config: { type: "string", short: "c" },
        service: { type: "string", short: "s" },
        json: { type: "boolean" },
        all: { type: "boolean" },
        min: { type: "string" },
        timeout: { type: "string" },
        "log-level": { type: "string", default: "info" },
        "log-format": { type: "string", default: "text" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "V" },
      },
    });
  } catch (error) {
    fail(`${(error as Error).message}; see --help`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    out(HELP);
    return 0;
  }
  if (values.version) {
    out(`roster ${denoJson.version}`);
    return 0;
  }
  const name = (positionals[0] ?? "run") as Command;
  if (!COMMANDS.includes(name) || positionals.length > 1) {
    fail(
      `unknown command '${positionals.join(" ")}'; use one of ${
        COMMANDS.join(", ")
      } (see --help)`,
    );
    return 2;
  }
  if (command !== undefined && (name !== "run" || command.length === 0)) {
    fail(
      command.length === 0
        ? "nothing after '--'; give the command to run, such as -- node server.js"
        : `'--' starts a command only in run mode, not with '${name}'`,
    );
    return 2;
  }
  if (!values.config) {
    fail("missing --config FILE; pass the TOML file with your [cluster] table");
    return 2;
  }
  let config: RunnerConfig;
  let min = 1;
  let timeout: number | undefined;
  try {
    await configureRunnerLogging(values["log-level"], values["log-format"]);
    if (values.service !== undefined) {
      resolveRegistryOptions({ service: values.service }, {
        service: "--service",
      });
    }
    if ((name === "leader" || name === "wait") && !values.service) {
      throw new ConfigError(
        `'${name}' needs --service NAME: the service to ${
          name === "leader" ? "find the leader of" : "wait for"
        }`,
        { field: "--service" },
      );
    }
    if (values.min !== undefined) {
      min = Number(values.min);
      if (!/^\d+$/.test(values.min) || min < 1) {
        throw new ConfigError(
          `Invalid '--min': '${values.min}' must be a whole number of at least 1`,
          { field: "--min" },
        );
      }
    }
    if (values.timeout !== undefined) {
      timeout = parseDuration(
        /^\d+(\.\d+)?$/.test(values.timeout)
          ? Number(values.timeout)
          : values.timeout,
        "--timeout",
        "s",
      );
    }
    config = await loadConfig(values.config);
    if ((name === "serve" || name === "dashboard") && !config.http) {
      throw new ConfigError(
        `'${config.file}': '${name}' needs a [cluster.http] table; add one with listen = "127.0.0.1:9090"`,
        { file: config.file, field: "http" },
      );
    }
    if (
      (name === "run" || name === "check") &&
      config.resolved.service === undefined
    ) {
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
  const json = values.json ?? false;
  switch (name) {
    case "check":
      out(`roster: '${config.file}' is valid (${summary(config)})`);
      return 0;
    case "run":
      return await runCommand(config, command);
    case "list":
      return await listCommand(
        config,
        values.service,
        json,
        values.all ?? false,
      );
    case "watch":
      return await watchCommand(config, values.service, json);
    case "leader":
      return await leaderCommand(
        config,
        values.service as string,
        timeout ?? 10_000,
        json,
      );
    case "serve":
    case "dashboard":
      return await serveCommand(config);
    case "wait":
      return await waitCommand(
        config,
        values.service as string,
        min,
        timeout ?? 30_000,
        json,
      );
  }
}

function summary(config: RunnerConfig): string {
  const { resolved } = config;
  return [
    resolved.service ? `service=${resolved.service}` : "",
    `env=${resolved.env}`,
    `driver=${config.driver}`,
    `interval=${formatDuration(resolved.heartbeatInterval)}`,
    `ttl=${formatDuration(resolved.ttl)}`,
  ].filter(Boolean).join(" ");
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
