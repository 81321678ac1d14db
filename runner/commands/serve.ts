/**
 * `roster serve`.
 *
 * @module
 */

import { ConfigError } from "../../mod.ts";
import { SOURCE } from "../cli/flags.ts";
import type { RunnerConfig } from "../config/config.ts";
import type { HttpConfig } from "../config/http_config.ts";
import { RunnerMetrics } from "../http/metrics.ts";
import type { StatusServer } from "../http/status_server.ts";
import { fail, report } from "../output.ts";
import type { Command } from "./command.ts";
import { discover, hostForUrl, stopSignals } from "./_discover.ts";

/**
 * `serve` (or `dashboard`): the status server and dashboard, without
 * registering anything; until SIGTERM or SIGINT.
 *
 * @param config The config, with a `[cluster.http]` table.
 * @returns The exit code.
 */
function serve(config: RunnerConfig): Promise<number> {
  const http = config.http as HttpConfig;
  return discover(config, async (registry) => {
    const { describeListenError, startStatusServer } = await import(
      "../http/status_server.ts"
    );
    const metrics = new RunnerMetrics();
    metrics.served = true;
    let server: StatusServer;
    try {
      server = await startStatusServer(http, registry, metrics);
    } catch (error) {
      fail(describeListenError(error, http));
      return 1;
    }
    using signals = stopSignals();
    report(
      "serving",
      `status server on http://${hostForUrl(http.hostname)}:${server.port}/`,
      { url: `http://${hostForUrl(http.hostname)}:${server.port}/` },
    );
    const signal = await signals.stopped;
    await server.shutdown();
    report("stopped", `stopped on ${signal}`, { signal });
    return 0;
  });
}

/** `roster serve`. */
export const serveCommand: Command = {
  usage: "roster serve --config FILE",
  summary:
    "run the status server and dashboard of [cluster.http], registering nothing",
  flags: [...SOURCE],
  example: "roster serve --config cluster.toml",
  needsFile: true,
  check({ config }) {
    if (!config.http) {
      throw new ConfigError(
        `'${config.file}': 'serve' needs a [cluster.http] table; add one with listen = "127.0.0.1:9090"`,
        { file: config.file, field: "http" },
      );
    }
  },
  run: (o) => serve(o.config),
};
