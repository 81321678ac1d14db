/**
 * `roster leader`.
 *
 * @module
 */

import { ConfigError } from "../../mod.ts";
import { SOURCE } from "../cli/flags.ts";
import type { RunnerConfig } from "../config/config.ts";
import { out, terminalSafe } from "../output.ts";
import type { Command } from "./command.ts";
import {
  discover,
  noteFailure,
  readWithin,
  withinTimeout,
} from "./_discover.ts";

/**
 * `leader`: the current leader of a service; exit 1 when it has none, or
 * when the registry cannot be read within `timeout`.
 *
 * @param config The config.
 * @param service The service.
 * @param timeout How long to try, in ms.
 * @param json Print JSON.
 * @returns The exit code.
 */
function leader(
  config: RunnerConfig,
  service: string,
  timeout: number,
  json: boolean,
): Promise<number> {
  const started = Date.now();
  // One deadline for connecting and reading, as for 'list'.
  return withinTimeout(
    "leader",
    timeout,
    () =>
      discover(config, async (registry) => {
        registry.on("view", ({ error }) => error && noteFailure(error));
        const leader = await readWithin(
          Math.max(0, timeout - (Date.now() - started)),
          () => registry.leader(service),
        );
        if (json) out(JSON.stringify({ service, leader: leader ?? null }));
        else if (leader) {
          out(terminalSafe(
            `${leader.id} leads ${service} (seq ${leader.seq}, addr ${
              leader.addr || "-"
            })`,
          ));
        } else out(`${service} has no live instance, so no leader`);
        return leader ? 0 : 1;
      }, { within: timeout }),
  );
}

/** `roster leader`. */
export const leaderCommand: Command = {
  usage: "roster leader --service S [--timeout 10s]",
  summary:
    "print the leader (the oldest live instance that takes work); exit 1 if there is none",
  flags: [...SOURCE, "service", "timeout"],
  example: "roster leader --config cluster.toml --service api",
  check(o) {
    if (!o.service) {
      throw new ConfigError(
        "'leader' needs --service NAME: the service to find the leader of",
        { field: "--service" },
      );
    }
  },
  run: (o) =>
    leader(
      o.config,
      o.service as string,
      o.timeout ?? 10_000,
      o.format === "json",
    ),
};
