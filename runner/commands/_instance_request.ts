/**
 * What `drain` and `maintenance` share: send a request to the runner of an
 * instance and wait until the backend shows it took effect.
 *
 * @module
 */

import { formatDuration, type Instance } from "../../mod.ts";
import type { RunnerConfig } from "../config/config.ts";
import {
  type InstanceRequest,
  messageOf,
  statusAfter,
} from "../instance_requests.ts";
import { fail, out, report } from "../output.ts";
import { discover } from "./_discover.ts";

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
export function sendInstanceRequest(
  config: RunnerConfig,
  id: string,
  request: InstanceRequest,
  options: { timeout: number; json: boolean },
): Promise<number> {
  const env = config.resolved.env;
  const wanted = statusAfter(request);
  const done = (instance: Instance | undefined) =>
    // Gone: a drain ran its course; maintenance never ends that way.
    instance === undefined
      ? request.kind === "drain"
      : wanted === undefined
      ? instance.status !== "maintenance"
      : instance.status === wanted;
  // A draining instance refuses maintenance: it is about to leave.
  const refused = (instance: Instance | undefined) =>
    request.kind === "maintenance" &&
    (instance === undefined || instance.status === "draining");
  return discover(config, async (registry) => {
    const find = async () =>
      (await registry.allInstances()).find((i) => i.id === id);
    let instance = await find();
    if (!instance) {
      fail(`no live instance '${id}' in env '${env}'; see roster list --all`);
      return 1;
    }
    if (refused(instance)) {
      fail(
        `'${id}' is draining and about to leave; it cannot ${
          request.kind === "maintenance" && request.on ? "enter" : "leave"
        } maintenance`,
      );
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
        if (refused(instance)) {
          fail(
            instance
              ? `'${id}' began draining, so its runner refused maintenance`
              : `'${id}' left before it was in maintenance`,
          );
          return 1;
        }
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
