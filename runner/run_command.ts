/**
 * `roster run`: register this process and heartbeat until told to stop.
 *
 * @module
 */

import { formatDuration } from "../duration.ts";
import { AlreadyRegisteredError } from "../errors.ts";
import { Registry } from "../registry.ts";
import { connect, fail, out, stopSignals } from "./_cli.ts";
import type { RunnerConfig } from "./config.ts";

/**
 * Registers, prints one startup line, heartbeats, and on SIGTERM or SIGINT
 * deregisters within the stop timeout.
 *
 * @param config A validated config with a service.
 * @returns The exit code: 0 after a clean stop, 1 when registering failed.
 */
export async function runCommand(config: RunnerConfig): Promise<number> {
  const driver = await connect(config);
  if (!driver) return 1;
  using signals = stopSignals();
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
    const signal = await signals.stopped;
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
    await driver.close();
  }
}
