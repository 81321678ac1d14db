/**
 * `roster maintenance ID on|off`: asks the runner of a live instance to
 * enter or leave maintenance.
 *
 * @module
 */

import { SOURCE } from "../cli/flags.ts";
import { sendInstanceRequest } from "./_instance_request.ts";
import { type Command, UsageError } from "./command.ts";

/** `roster maintenance`. */
export const maintenanceCommand: Command = {
  usage: "roster maintenance ID on|off [--ttl 30m]",
  summary:
    "ask the runner of a live instance to enter maintenance (listed, but it takes no work) until turned off or the ttl passes, so a crashed script cannot leave it on; exit 0 once the backend shows it, 1 otherwise",
  flags: [...SOURCE, "ttl", "timeout"],
  example:
    "roster maintenance api-web-1-3f2a9c01 on --ttl 30m --config cluster.toml",
  arguments(positionals) {
    const [id, onOff, extra] = positionals;
    if (id === undefined || (onOff !== "on" && onOff !== "off") || extra) {
      throw new UsageError(
        extra
          ? `'maintenance' takes an id and on or off, not '${extra}' too`
          : `'maintenance' needs an id and on or off, such as roster maintenance api-7 on --ttl 30m${
            onOff === undefined ? "" : `; '${onOff}' is neither`
          }`,
      );
    }
    return { id, on: onOff === "on" };
  },
  run: (o) =>
    sendInstanceRequest(
      o.config,
      o.id as string,
      {
        kind: "maintenance",
        on: o.on,
        ...(o.ttl === undefined ? {} : { ttl: o.ttl }),
      },
      { timeout: o.timeout ?? 10_000, json: o.format === "json" },
    ),
};
