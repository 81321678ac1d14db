/**
 * `roster drain ID`: asks the runner of a live instance to drain.
 *
 * @module
 */

import { SOURCE } from "../cli/flags.ts";
import { sendInstanceRequest } from "./_instance_request.ts";
import { type Command, UsageError } from "./command.ts";

/** `roster drain`. */
export const drainCommand: Command = {
  usage: "roster drain ID [--linger 30s] [--timeout 10s]",
  summary:
    "ask the runner of a live instance to drain: it is listed as draining and takes no new work, then stops (a sidecar signals its command and deregisters once it exits); exit 0 once it is draining, 1 if it is not live or no runner answers",
  flags: [...SOURCE, "linger", "timeout"],
  example: "roster drain api-web-1-3f2a9c01 --config cluster.toml --linger 30s",
  arguments(positionals) {
    if (positionals.length !== 1) {
      throw new UsageError(
        positionals.length < 1
          ? "'drain' needs the id of the instance to drain, such as roster drain api-web-1-3f2a9c01"
          : `'drain' takes one id, not '${positionals[1]}' too`,
      );
    }
    return { id: positionals[0] };
  },
  run: (o) =>
    sendInstanceRequest(
      o.config,
      o.id as string,
      {
        kind: "drain",
        ...(o.linger === undefined ? {} : { linger: o.linger }),
      },
      { timeout: o.timeout ?? 10_000, json: o.format === "json" },
    ),
};
