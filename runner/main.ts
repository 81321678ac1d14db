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
import type { Driver } from "../driver.ts";
import { formatDuration } from "../duration.ts";
import { AlreadyRegisteredError, ConfigError } from "../errors.ts";
import { validateName } from "../instance.ts";
import { Registry } from "../registry.ts";
import { loadConfig, type RunnerConfig } from "./config.ts";
import { createDriver } from "./create_driver.ts";
import { formatInstanceTable } from "./format_instances.ts";
import { configureRunnerLogging, LOG_FORMATS, LOG_LEVELS } from "./logging.ts";

const HELP =
  `roster ${denoJson.version}: service-instance heartbeats and a cluster registry

Usage:
  roster [run] --config FILE        register this process and heartbeat until SIGTERM or SIGINT
  roster check --config FILE        validate the config and exit (0 valid, 2 invalid)
  roster list --config FILE [--service S] [--json]
                                    list live instances

Options:
  -c, --config FILE      the TOML file with a [cluster] table (required)
  -s, --service NAME     list: only this service
      --json             list: print a JSON array of instances
      --log-level LEVEL  ${LOG_LEVELS.join(", ")} (default: info)
      --log-format FMT   ${LOG_FORMATS.join(", ")} (default: text)
  -h, --help             show this help
  -V, --version          show the version

Environment: ROSTER_<KEY> overrides [cluster] keys (ROSTER_TTL=15s,
ROSTER_META_ZONE=eu-1, ROSTER_REDIS_URL=redis://...).

Exit codes: 0 success, 1 failure at run time, 2 bad config or usage.`;

const COMMANDS = ["run", "check", "list"] as const;
type Command = typeof COMMANDS[number];

/** Writes a line to stdout. */
function out(line: string): void {
  console.log(line);
}

/** Writes an error line to stderr. */
function fail(message: string): void {
  console.error(`roster: ${message}`);
}

/**
 * Runs the runner with command-line arguments.
 *
 * @param args The arguments, without the program name.
 * @returns The exit code.
 */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        config: { type: "string", short: "c" },
        service: { type: "string", short: "s" },
        json: { type: "boolean" },
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
  const command = (positionals[0] ?? "run") as Command;
  if (!COMMANDS.includes(command) || positionals.length > 1) {
    fail(
      `unknown command '${positionals.join(" ")}'; use one of ${
        COMMANDS.join(", ")
      } (see --help)`,
    );
    return 2;
  }
  if (!values.config) {
    fail("missing --config FILE; pass the TOML file with your [cluster] table");
    return 2;
  }
  let config: RunnerConfig;
  try {
    await configureRunnerLogging(values["log-level"], values["log-format"]);
    if (values.service !== undefined) validateName("--service", values.service);
    config = await loadConfig(values.config);
    if (command !== "list" && config.resolved.service === undefined) {
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
  switch (command) {
    case "check":
      out(`roster: '${config.file}' is valid (${summary(config)})`);
      return 0;
    case "list":
      return await list(config, values.service, values.json ?? false);
    case "run":
      return await run(config);
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

async function list(
  config: RunnerConfig,
  service: string | undefined,
  json: boolean,
): Promise<number> {
  if (config.driver === "memory") {
    console.error(
      "roster: note: the memory driver lives inside one process, so a separate 'list' sees no instances; use driver = \"redis\" to share a registry",
    );
  }
  const driver = await connect(config);
  if (!driver) return 1;
  try {
    const registry = new Registry({ driver, env: config.resolved.env });
    const instances = await registry.instances(...(service ? [service] : []));
    if (json) out(JSON.stringify(instances, null, 2));
    else if (instances.length === 0) out("no live instances");
    else {await Deno.stdout.write(
        new TextEncoder().encode(formatInstanceTable(instances, Date.now())),
      );}
    return 0;
  } finally {
    await driver.close();
  }
}

async function connect(config: RunnerConfig): Promise<Driver | undefined> {
  try {
    return await createDriver(config);
  } catch (error) {
    fail((error as Error).message);
    return undefined;
  }
}

async function run(config: RunnerConfig): Promise<number> {
  const driver = await connect(config);
  if (!driver) return 1;
  const stopRequested = Promise.withResolvers<string>();
  let signals = 0;
  const onSignal = (signal: Deno.Signal) => () => {
    if (++signals > 1) {
      fail(`second ${signal}: exiting without waiting`);
      Deno.exit(130);
    }
    stopRequested.resolve(signal);
  };
  const handlers = [
    ["SIGTERM", onSignal("SIGTERM")],
    ["SIGINT", onSignal("SIGINT")],
  ] as const;
  for (const [signal, handler] of handlers) {
    Deno.addSignalListener(signal, handler);
  }
  try {
    const registry = new Registry({ ...config.options, driver });
    let instance;
    try {
      instance = await registry.start();
    } catch (error) {
      fail(
        error instanceof AlreadyRegisteredError
          ? error.message
          : `cannot register with the ${driver.name} driver: ${error}`,
      );
      return 1;
    }
    out(
      `roster: registered id=${instance.id} service=${instance.service} env=${instance.env} driver=${driver.name} interval=${
        formatDuration(registry.heartbeatInterval)
      } ttl=${formatDuration(registry.ttl)} seq=${instance.seq}`,
    );
    const signal = await stopRequested.promise;
    let removed = false;
    registry.on("deregistered", (event) => removed = event.removed);
    await registry.stop();
    out(
      `roster: stopped on ${signal}; id=${instance.id} ${
        removed ? "deregistered" : "not deregistered (it expires with its ttl)"
      }`,
    );
    return 0;
  } finally {
    for (const [signal, handler] of handlers) {
      Deno.removeSignalListener(signal, handler);
    }
    await driver.close();
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
