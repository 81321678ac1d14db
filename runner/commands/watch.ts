/**
 * `roster watch`.
 *
 * @module
 */

import type { ProtectionChange } from "../../mod.ts";
import { SOURCE } from "../cli/flags.ts";
import type { RunnerConfig } from "../config/config.ts";
import { note, out, terminalSafe } from "../output.ts";
import type { Command } from "./command.ts";
import { discover, stopSignals } from "./_discover.ts";

/**
 * `watch`: the live instances, then every join, update and leave until
 * SIGINT or SIGTERM; one JSON object a line with `json`.
 *
 * @param config The config.
 * @param service Only this service, when given.
 * @param json Print JSON lines.
 * @returns The exit code.
 */
function watch(
  config: RunnerConfig,
  service: string | undefined,
  json: boolean,
): Promise<number> {
  return discover(config, async (registry) => {
    using signals = stopSignals();
    registry.on("view", ({ state, error }) => {
      if (!json) {
        note(
          `the view is ${state}${
            error ? `: ${(error as Error).message ?? error}` : ""
          }`,
        );
      }
    });
    registry.on("protection", (change) => {
      if (service !== undefined && change.service !== service) return;
      // After the watch events of the same moment (the leaves before a hold,
      // or those a bound releases), which the watch loop prints first.
      setTimeout(() => printProtection(change), 0);
    });
    const printProtection = (change: ProtectionChange) => {
      const held = change.held.map((i) => i.id);
      if (json) {
        out(JSON.stringify({
          at: new Date().toISOString(),
          type: "protection",
          ...change,
          held,
        }));
      } else {
        note(terminalSafe(
          change.on
            ? `eviction protection on for ${change.service}: most of it expired within one ttl; holding its expiries (${
              held.join(" ")
            } so far) until they beat again or ${
              new Date(change.until ?? 0).toISOString()
            }`
            : `eviction protection off for ${change.service}: ${change.reason}${
              held.length ? `; ${held.join(" ")} expired` : ""
            }`,
        ));
      }
    };
    const events = registry.watch(service, {
      current: true,
      signal: signals.controller.signal,
    });
    for await (const event of events) {
      const at = new Date().toISOString();
      if (json) out(JSON.stringify({ at, ...event }));
      else {
        const { instance } = event;
        out(terminalSafe(
          `${at} ${event.type.padEnd(6)} ${
            event.reason.padEnd(12)
          } ${instance.id} (${instance.service}${
            instance.version ? ` ${instance.version}` : ""
          }) ${instance.addr || "-"} seq=${instance.seq} ${instance.status}`,
        ));
      }
    }
    return 0;
  });
}

/** `roster watch`. */
export const watchCommand: Command = {
  usage: "roster watch [--service S] [--json]",
  summary:
    "print the live instances, then every join, update and leave, until Ctrl-C",
  flags: [...SOURCE, "service"],
  example: "roster watch --config cluster.toml --service api --json",
  run: (o) => watch(o.config, o.service, o.format === "json"),
};
