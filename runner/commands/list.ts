/**
 * `roster list`.
 *
 * @module
 */

import { SOURCE } from "../cli/flags.ts";
import type { RunnerConfig } from "../config/config.ts";
import type { OutputFormat } from "../output.ts";
import type { Command } from "./command.ts";
import type { Registry } from "../../mod.ts";
import {
  discover,
  printInstances,
  readWithin,
  withinTimeout,
} from "./_discover.ts";

/**
 * `list`: the live instances, as a table or a JSON array.
 *
 * @param config The config.
 * @param service Only this service, when given.
 * @param format A table, a wide table, or JSON.
 * @param options `all` to include unhealthy instances; `timeout`: how long
 *   connecting and reading may be tried, in ms.
 * @returns The exit code.
 */
function list(
  config: RunnerConfig,
  service: string | undefined,
  format: OutputFormat,
  options: { all?: boolean; timeout: number },
): Promise<number> {
  const started = Date.now();
  return withinTimeout(
    "list",
    options.timeout,
    () =>
      discover(config, async (registry) => {
        const services = service ? [service] : [];
        // Connecting and reading share the timeout; a failed read (Redis paused
        // for writes, a failover) is tried again within it.
        const instances = await readWithin(
          Math.max(0, options.timeout - (Date.now() - started)),
          () =>
            options.all
              ? registry.allInstances(...services)
              : registry.instances(...services),
        );
        const env = config.resolved.env;
        // None here: say where there are some, if the driver can tell
        // within what is left of the timeout (or drop the hint).
        const otherEnvs = instances.length === 0 && format !== "json"
          ? await otherEnvsWith(
            registry,
            env,
            service,
            options.timeout - (Date.now() - started),
          )
          : undefined;
        printInstances(instances, format, { env, service, otherEnvs });
        return 0;
      }, { within: options.timeout }),
  );
}

/**
 * The envs other than `env` with live instances (of `service`, when
 * given), or undefined when the driver cannot tell within `within` ms.
 */
async function otherEnvsWith(
  registry: Registry,
  env: string,
  service: string | undefined,
  within: number,
): Promise<string[] | undefined> {
  const { driver } = registry;
  if (!driver.envs || within <= 0) return undefined;
  const lookup = (async () => {
    const others = (await driver.envs!()).filter((other) => other !== env);
    if (!service) return others;
    const has = await Promise.all(
      others.map(async (other) =>
        (await driver.services(other)).includes(service)
      ),
    );
    return others.filter((_, i) => has[i]);
  })().catch(() => undefined);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), within);
  });
  try {
    return await Promise.race([lookup, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** `roster list`. */
export const listCommand: Command = {
  usage: "roster list [--service S] [--all] [--timeout 10s] [-o wide|json]",
  summary: "list live instances, grouped by service",
  flags: [...SOURCE, "service", "all", "timeout"],
  example: "roster list --redis-url redis://127.0.0.1:6379 -s api -o wide",
  run: (o) =>
    list(o.config, o.service, o.format, {
      all: o.all,
      timeout: o.timeout ?? 10_000,
    }),
};
