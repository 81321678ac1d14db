/**
 * Requests to a running instance, sent as messages: `roster drain ID` and
 * `roster maintenance ID on|off`; and how a runner reads them.
 *
 * @module
 */

import { formatDuration, type Instance, type InstanceStatus } from "../mod.ts";
import { discover } from "./discovery_commands.ts";
import { fail, out, report } from "./_output.ts";
import type { RunnerConfig } from "./config/config.ts";

/** The longest linger or maintenance a request may ask for (a day), in ms. */
const MAX_REQUEST_MS = 86_400_000;

/** What a runner may be asked, as a message carries it. */
export type InstanceRequest =
  | {
    kind: "drain";
    /** How long to stay listed as draining, in ms; the runner's own when absent. */
    linger?: number;
  }
  | {
    kind: "maintenance";
    on: boolean;
    /** How long maintenance lasts, in ms; the library's default when absent. */
    ttl?: number;
  };

function duration(value: unknown, min: number): number | undefined {
  return typeof value === "number" && Number.isFinite(value) &&
      value >= min && value <= MAX_REQUEST_MS
    ? Math.round(value)
    : undefined;
}

/**
 * Reads a message as a request.
 *
 * @param data A message's data.
 * @returns The request, or undefined when the message is something else.
 */
export function readInstanceRequest(
  data: unknown,
): InstanceRequest | undefined {
  if (typeof data !== "object" || data === null) return undefined;
  const { roster, linger, on, ttl } = data as Record<string, unknown>;
  if (roster === "drain") {
    const ms = duration(linger, 0);
    return ms === undefined ? { kind: "drain" } : { kind: "drain", linger: ms };
  }
  if (roster === "maintenance" && typeof on === "boolean") {
    const ms = duration(ttl, 1);
    return ms === undefined
      ? { kind: "maintenance", on }
      : { kind: "maintenance", on, ttl: ms };
  }
  return undefined;
}

/** The message that carries a request. */
function messageOf(request: InstanceRequest): Record<string, unknown> {
  const { kind, ...rest } = request;
  return { roster: kind, ...rest };
}

/** The status the backend shows once a request took effect. */
function statusAfter(request: InstanceRequest): InstanceStatus | undefined {
  if (request.kind === "drain") return "draining";
  return request.on ? "maintenance" : undefined;
}

/**
 * Sends `request` to the runner of instance `id`, then waits until the
 * backend shows it took effect: `draining`, `maintenance`, or out of
 * maintenance.
 *
 * @param config The config: where to find the instance.
 * @param id The instance.
 * @param request What to ask.
 * @param options How long to wait, and JSON output.
 * @returns 0 once it took effect; 1 when the instance is not live, its
 *   backend carries no messages, no runner of it listens, or it did not
 *   take effect in time.
 */
export function requestCommand(
  config: RunnerConfig,
  id: string,
  request: InstanceRequest,
  options: { timeout: number; json: boolean },
): Promise<number> {
  const env = config.resolved.env;
  const wanted = statusAfter(request);
  const done = (instance: Instance | undefined) =>
    instance === undefined ||
    (wanted === undefined
      ? instance.status !== "maintenance"
      : instance.status === wanted);
  return discover(config, async (registry) => {
    const find = async () =>
      (await registry.allInstances()).find((i) => i.id === id);
    let instance = await find();
    if (!instance) {
      fail(`no live instance '${id}' in env '${env}'; see roster list --all`);
      return 1;
    }
    if (!done(instance)) {
      let reached: number;
      try {
        reached = await registry.send(id, messageOf(request));
      } catch (error) {
        fail(
          `${(error as Error).message}; ${
            request.kind === "drain"
              ? `stop '${id}' with SIGTERM on ${instance.hostname} (pid ${instance.pid}) instead, and it drains for its drain_timeout`
              : `call registry.setMaintenance() in '${id}' instead`
          }`,
        );
        return 1;
      }
      if (reached === 0) {
        fail(
          `no runner of '${id}' listens for requests (a library registry calls ${
            request.kind === "drain"
              ? "registry.drain()"
              : "registry.setMaintenance()"
          } itself)${
            request.kind === "drain"
              ? `; send SIGTERM to pid ${instance.pid} on ${instance.hostname} instead`
              : ""
          }`,
        );
        return 1;
      }
      const deadline = Date.now() + options.timeout;
      while (!done(instance) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        instance = await find();
      }
      if (!done(instance)) {
        fail(
          `'${id}' was asked but is still ${instance?.status} after ${
            formatDuration(options.timeout)
          }; is a roster runner of it listening?`,
        );
        return 1;
      }
    }
    const { kind: _, ...asked } = request;
    if (options.json) {
      out(JSON.stringify({
        id,
        env,
        status: instance?.status ?? "gone",
        ...asked,
      }));
    } else {
      report(
        request.kind === "drain" ? "draining" : "maintenance",
        request.kind === "drain"
          ? `'${id}' is draining: it takes no new work and leaves after ${
            request.linger === undefined
              ? "its drain_timeout"
              : formatDuration(request.linger)
          }`
          : request.on
          ? `'${id}' is in maintenance: it takes no work until turned off or ${
            request.ttl === undefined ? "1h" : formatDuration(request.ttl)
          } pass`
          : `'${id}' is out of maintenance`,
        { id, env },
      );
    }
    return 0;
  });
}
