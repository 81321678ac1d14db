/**
 * `roster drain ID`: asks the runner of a live instance, by a message, to
 * drain it; and how a runner reads such a request.
 *
 * @module
 */

import { formatDuration, type Instance } from "../mod.ts";
import { discover } from "./discovery_commands.ts";
import { fail, out, report } from "./_output.ts";
import type { RunnerConfig } from "./config.ts";

/** The longest linger a request may ask for (a day), in ms. */
const MAX_LINGER_MS = 86_400_000;

/** A request to drain, as a message carries it. */
export interface DrainRequest {
  /** How long to stay listed as draining, in ms; the runner's own when absent. */
  linger?: number;
}

/**
 * Reads a message as a drain request.
 *
 * @param data A message's data.
 * @returns The request, or undefined when the message is something else.
 */
export function readDrainRequest(data: unknown): DrainRequest | undefined {
  if (typeof data !== "object" || data === null) return undefined;
  const { roster, linger } = data as Record<string, unknown>;
  if (roster !== "drain") return undefined;
  return typeof linger === "number" && Number.isFinite(linger) &&
      linger >= 0 && linger <= MAX_LINGER_MS
    ? { linger: Math.round(linger) }
    : {};
}

/**
 * Asks the runner of instance `id` to drain, then waits until the backend
 * shows it draining (or gone).
 *
 * @param config The config: where to find the instance.
 * @param id The instance.
 * @param options The linger to ask for, how long to wait, and JSON output.
 * @returns 0 once it drains; 1 when it is not live, its backend carries no
 *   messages, no runner of it listens, or it did not drain in time.
 */
export function drainCommand(
  config: RunnerConfig,
  id: string,
  options: { linger?: number; timeout: number; json: boolean },
): Promise<number> {
  const env = config.resolved.env;
  return discover(config, async (registry) => {
    const find = async () =>
      (await registry.allInstances()).find((i) => i.id === id);
    const instance = await find();
    if (!instance) {
      fail(`no live instance '${id}' in env '${env}'; see roster list --all`);
      return 1;
    }
    if (instance.status !== "draining") {
      let reached: number;
      try {
        reached = await registry.send(id, {
          roster: "drain",
          ...(options.linger === undefined ? {} : { linger: options.linger }),
        });
      } catch (error) {
        fail(
          `${
            (error as Error).message
          }; stop '${id}' with SIGTERM on ${instance.hostname} (pid ${instance.pid}) instead, and it drains for its drain_timeout`,
        );
        return 1;
      }
      if (reached === 0) {
        fail(
          `no runner of '${id}' listens for requests (a library registry drains with registry.drain()); send SIGTERM to pid ${instance.pid} on ${instance.hostname} instead`,
        );
        return 1;
      }
      const deadline = Date.now() + options.timeout;
      let now: Instance | undefined = instance;
      while (now && now.status !== "draining" && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        now = await find();
      }
      if (now && now.status !== "draining") {
        fail(
          `'${id}' was asked to drain but is still ${now.status} after ${
            formatDuration(options.timeout)
          }; is a roster runner of it listening?`,
        );
        return 1;
      }
    }
    const linger = options.linger === undefined
      ? "its drain_timeout"
      : formatDuration(options.linger);
    if (options.json) {
      out(JSON.stringify({
        id,
        env,
        draining: true,
        ...(options.linger === undefined ? {} : { linger: options.linger }),
      }));
    } else {
      report(
        "draining",
        `'${id}' is draining: it takes no new work and leaves after ${linger}`,
        { id, env },
      );
    }
    return 0;
  });
}
