/**
 * The runner's commands, one line each; `roster --help` lists them in this
 * order.
 *
 * @module
 */

import type { Command } from "./command.ts";
import { checkCommand } from "./check.ts";
import { dnsCommand } from "./dns.ts";
import { drainCommand } from "./drain.ts";
import { leaderCommand } from "./leader.ts";
import { listCommand } from "./list.ts";
import { maintenanceCommand } from "./maintenance.ts";
import { runCommand } from "./run.ts";
import { serveCommand } from "./serve.ts";
import { statusCommand } from "./status.ts";
import { waitCommand } from "./wait.ts";
import { watchCommand } from "./watch.ts";

/** Every command, by name. */
export const COMMANDS = {
  run: runCommand,
  check: checkCommand,
  list: listCommand,
  watch: watchCommand,
  leader: leaderCommand,
  wait: waitCommand,
  status: statusCommand,
  drain: drainCommand,
  maintenance: maintenanceCommand,
  serve: serveCommand,
  dns: dnsCommand,
} as const satisfies Record<string, Command>;

/** A command's name. */
export type CommandName = keyof typeof COMMANDS;

/** Other names commands answer to. */
export const ALIASES: Readonly<Record<string, CommandName>> = {
  dashboard: "serve",
  doctor: "status",
};
