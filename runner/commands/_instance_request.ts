/**
 * What `drain` and `maintenance` share: send a request to the runner of an
 * instance and wait until the backend shows it took effect.
 *
 * @module
 */

import { formatDuration, type Instance, type Registry } from "../../mod.ts";
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
  const check = effectOf(request);
  return discover(config, async (registry) => {
    const find = async () =>
      (await registry.allInstances()).find((i) => i.id === id);
    let instance = await find();
    if (!instance) {
      fail(`no live instance '${id}' in env '${env}'; see roster list --all`);
      return 1;
    }
    if (check.refused(instance)) {
      fail(
        `'${id}' is draining and about to leave; it cannot ${
          request.kind === "maintenance" && request.on ? "enter" : "leave"
        } maintenance`,
      );
      return 1;
    }
    if (!check.done(instance)) {
      const undelivered = await deliver(registry, instance, request);
      if (undelivered) {
        fail(undelivered);
        return 1;
      }
      const waited = await waitForEffect(id, find, check, options.timeout);
      if (typeof waited === "string") {
        fail(waited);
        return 1;
      }
      instance = waited.instance;
    }
    reportEffect(id, env, request, instance, options.json);
    return 0;
  });
}

/** How to tell that a request took effect, or that it was refused. */
interface Effect {
  done(instance: Instance | undefined): boolean;
  refused(instance: Instance | undefined): boolean;
}

function effectOf(request: InstanceRequest): Effect {
  const wanted = statusAfter(request);
  return {
    done: (instance) =>
      // Gone: a drain ran its course; maintenance never ends that way.
      instance === undefined
        ? request.kind === "drain"
        : wanted === undefined
        ? instance.status !== "maintenance"
        : instance.status === wanted,
    // A draining instance refuses maintenance: it is about to leave.
    refused: (instance) =>
      request.kind === "maintenance" &&
      (instance === undefined || instance.status === "draining"),
  };
}

/**
 * Sends the request to the instance's runner.
 *
 * @returns Why it could not be delivered, or undefined once a runner got it.
 */
async function deliver(
  registry: Registry,
  instance: Instance,
  request: InstanceRequest,
): Promise<string | undefined> {
  const { id, hostname, pid } = instance;
  const drain = request.kind === "drain";
  let reached: number;
  try {
    reached = await registry.send(id, messageOf(request));
  } catch (error) {
    return `${(error as Error).message}; ${
      drain
        ? `stop '${id}' with SIGTERM on ${hostname} (pid ${pid}) instead, and it drains for its drain_timeout`
        : `call registry.setMaintenance() in '${id}' instead`
    }`;
  }
  if (reached > 0) return undefined;
  return `no runner of '${id}' listens for requests (a library registry calls ${
    drain ? "registry.drain()" : "registry.setMaintenance()"
  } itself)${
    drain ? `; send SIGTERM to pid ${pid} on ${hostname} instead` : ""
  }`;
}

/**
 * Reads the instance again until the request took effect or `timeout` ms
 * passed.
 *
 * @returns The instance once it took effect, or why it did not.
 */
async function waitForEffect(
  id: string,
  find: () => Promise<Instance | undefined>,
  check: Effect,
  timeout: number,
): Promise<{ instance: Instance | undefined } | string> {
  const deadline = Date.now() + timeout;
  let instance: Instance | undefined;
  do {
    await new Promise((resolve) => setTimeout(resolve, 50));
    instance = await find();
    if (check.refused(instance)) {
      return instance
        ? `'${id}' began draining, so its runner refused maintenance`
        : `'${id}' left before it was in maintenance`;
    }
  } while (!check.done(instance) && Date.now() < deadline);
  if (check.done(instance)) return { instance };
  return `'${id}' was asked but is still ${instance?.status} after ${
    formatDuration(timeout)
  }; is a roster runner of it listening?`;
}

function reportEffect(
  id: string,
  env: string,
  request: InstanceRequest,
  instance: Instance | undefined,
  json: boolean,
): void {
  if (json) {
    const { kind: _, ...asked } = request;
    out(
      JSON.stringify({ id, env, status: instance?.status ?? "gone", ...asked }),
    );
    return;
  }
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
