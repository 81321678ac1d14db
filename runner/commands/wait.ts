/**
 * `roster wait`.
 *
 * @module
 */

import process from "node:process";
import { ConfigError, type Registry, WaitForTimeoutError } from "../../mod.ts";
import { SOURCE } from "../cli/flags.ts";
import type { RunnerConfig } from "../config/config.ts";
import { fail, type OutputFormat } from "../output.ts";
import type { Command } from "./command.ts";
import { discover, printInstances, stopSignals } from "./_discover.ts";

/**
 * `wait`: waits for at least `min` live instances of a service; exit 0 with
 * them listed, or 1 on timeout.
 *
 * @param config The config.
 * @param service The service.
 * @param min How many.
 * @param timeout How long, in ms.
 * @param format How to print the instances once there.
 * @returns The exit code: 0, 1 on timeout, 130 when interrupted.
 */
function wait(
  config: RunnerConfig,
  service: string,
  min: number,
  timeout: number,
  format: OutputFormat,
): Promise<number> {
  return discover(config, async (registry) => {
    using signals = stopSignals();
    const progress = format !== "json" && process.stderr.isTTY === true
      ? showProgress(registry, service, min, Date.now() + timeout)
      : undefined;
    try {
      const live = await registry.waitFor(service, {
        min,
        timeout,
        signal: signals.controller.signal,
      });
      progress?.stop();
      printInstances(live, format);
      return 0;
    } catch (error) {
      progress?.stop();
      if (error instanceof WaitForTimeoutError) {
        fail(error.message);
        return 1;
      }
      if (signals.controller.signal.aborted) {
        fail(
          `interrupted before ${min} ${
            plural(min, "instance")
          } of '${service}' were live`,
        );
        return 130;
      }
      throw error;
    }
  });
}

/** `N thing` or `N things`. */
function plural(n: number, thing: string): string {
  return n === 1 ? thing : `${thing}s`;
}

/** Keeps one line on a terminal's stderr: `2/3 api instances live, 12s left`. */
function showProgress(
  registry: Registry,
  service: string,
  min: number,
  deadline: number,
): { stop(): void } {
  let live = 0;
  const draw = () => {
    const left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    process.stderr.write(
      `\r\x1b[K${live}/${min} ${service} ${
        plural(min, "instance")
      } live, ${left}s left`,
    );
  };
  const read = () =>
    registry.instances(service).then((found) => {
      live = found.length;
      draw();
    }, () => {});
  void read();
  const timer = setInterval(read, 1_000);
  return {
    stop() {
      clearInterval(timer);
      process.stderr.write("\r\x1b[K");
    },
  };
}

/** `roster wait`. */
export const waitCommand: Command = {
  usage: "roster wait --service S [--min N] [--timeout 30s]",
  summary:
    "wait until N instances are live; exit 0 when they are, 1 on timeout, 130 on Ctrl-C",
  flags: [...SOURCE, "service", "min", "timeout"],
  example: "roster wait --config cluster.toml --service api --min 3",
  check(o) {
    if (!o.service) {
      throw new ConfigError(
        "'wait' needs --service NAME: the service to wait for",
        { field: "--service" },
      );
    }
  },
  run: (o) =>
    wait(o.config, o.service as string, o.min, o.timeout ?? 30_000, o.format),
};
