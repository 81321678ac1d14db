/**
 * `roster list`.
 *
 * @module
 */

import { SOURCE } from "../cli/flags.ts";
import type { RunnerConfig } from "../config/config.ts";
import type { OutputFormat } from "../output.ts";
import type { Command } from "./command.ts";
import { discover, printInstances } from "./_discover.ts";

/**
 * `list`: the live instances, as a table or a JSON array.
 *
 * @param config The config.
 * @param service Only this service, when given.
 * @param format A table, a wide table, or JSON.
 * @param all Include unhealthy instances.
 * @returns The exit code.
 */
function list(
  config: RunnerConfig,
  service: string | undefined,
  format: OutputFormat,
  all = false,
): Promise<number> {
  return discover(config, async (registry) => {
    const services = service ? [service] : [];
    printInstances(
      all
        ? await registry.allInstances(...services)
        : await registry.instances(...services),
      format,
      { env: config.resolved.env, service },
    );
    return 0;
  });
}

/** `roster list`. */
export const listCommand: Command = {
  usage: "roster list [--service S] [--all] [-o wide|json]",
  summary: "list live instances, grouped by service",
  flags: [...SOURCE, "service", "all"],
  example: "roster list --redis-url redis://127.0.0.1:6379 -s api -o wide",
  run: (o) => list(o.config, o.service, o.format, o.all),
};
