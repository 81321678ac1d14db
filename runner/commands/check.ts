/**
 * `roster check`: validates a config and exits, 0 when valid; an invalid
 * one never gets here (exit 2 with the problem).
 *
 * @module
 */

import { formatDuration } from "../../mod.ts";
import type { RunnerConfig } from "../config/config.ts";
import { out, report } from "../output.ts";
import type { Command } from "./command.ts";

/** `roster check`. */
export const checkCommand: Command = {
  usage: "roster check --config FILE",
  summary:
    "validate the config and exit (0 valid, 2 invalid); a config without a service is valid for the commands that only read",
  flags: [],
  example: "roster check --config cluster.toml",
  needsFile: true,
  run({ config, format }) {
    if (format === "json") {
      out(JSON.stringify({ valid: true, file: config.file, ...facts(config) }));
    } else {
      report(
        "valid",
        `'${config.file}' is valid (${
          Object.entries(facts(config)).map(([k, v]) => `${k}=${v}`).join(" ")
        })${
          config.resolved.service === undefined
            ? "; with no service it can only read, not run"
            : ""
        }`,
        { file: config.file, ...facts(config) },
      );
    }
    return Promise.resolve(0);
  },
};

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
