/**
 * The `[cluster.health]` table: what tells the runner its process is healthy.
 *
 * @module
 */

import type { HealthCheckOptions } from "../../mod.ts";
import { ConfigTable, HOST_PORT } from "../../contract/config_table.ts";

const KEYS = [
  "http",
  "tcp",
  "command",
  "interval",
  "timeout",
  "failures",
  "successes",
  "warn_exit_code",
];

/**
 * Validates a `[cluster.health]` table.
 *
 * @param table The table, with environment overrides merged in.
 * @param file The config file, named in errors.
 * @param sources Where each `health.<key>` came from.
 * @returns Health check options.
 * @throws {ConfigError} Naming the key and the fix.
 */
export function parseHealthConfig(
  table: Record<string, unknown>,
  file: string,
  sources: Map<string, string> = new Map(),
): HealthCheckOptions {
  const read = new ConfigTable(table, file, "health", KEYS, sources);
  const kinds = ["http", "tcp", "command"].filter((key) => read.has(key));
  if (kinds.length !== 1) {
    read.fail(
      kinds[1] ?? "http",
      kinds.length === 0
        ? "[cluster.health] says what to check with one of 'http' (a URL), 'tcp' (host:port) or 'command'; add one"
        : `[cluster.health] has both '${kinds[0]}' and '${
          kinds[1]
        }'; keep one check`,
    );
  }
  const http = read.text("http");
  if (http !== undefined && !/^https?:\/\/[^/\s]+/.test(http)) {
    read.fail(
      "http",
      `Invalid 'health.http': '${http}' must be an http:// or https:// URL, such as "http://127.0.0.1:8080/healthz"`,
    );
  }
  const tcp = read.text("tcp");
  if (tcp !== undefined && !HOST_PORT.test(tcp)) {
    read.fail(
      "tcp",
      `Invalid 'health.tcp': '${tcp}' must be host:port, such as "127.0.0.1:5432"`,
    );
  }
  let command: string[] | undefined;
  const raw = table.command;
  if (typeof raw === "string" && raw.trim() !== "") command = ["sh", "-c", raw];
  else if (
    Array.isArray(raw) && raw.length > 0 &&
    raw.every((part) => typeof part === "string" && part !== "")
  ) command = raw as string[];
  else if (raw !== undefined) {
    read.fail(
      "command",
      `Invalid 'health.command': give a shell command as a string, or a program and its arguments as a list of strings, such as ["pg_isready", "-q"]`,
    );
  }
  const interval = read.duration("interval", 10_000);
  const timeout = read.duration("timeout", Math.min(2_000, interval));
  if (timeout > interval) {
    read.fail(
      "timeout",
      `Invalid 'health.timeout': ${timeout}ms must not be longer than 'health.interval' (${interval}ms)`,
    );
  }
  let warnExitCode: number | undefined;
  if (read.has("warn_exit_code")) {
    warnExitCode = read.count("warn_exit_code", 1);
    if (!command || warnExitCode > 255) {
      read.fail(
        "warn_exit_code",
        !command
          ? "Invalid 'health.warn_exit_code': it applies to a 'command' check only; remove it or check with a command"
          : `Invalid 'health.warn_exit_code': ${warnExitCode} must be an exit code from 1 to 255, such as 1 (Nagios' WARNING)`,
      );
    }
  }
  return {
    http,
    tcp,
    command,
    ...(warnExitCode === undefined ? {} : { warnExitCode }),
    interval,
    timeout,
    failures: read.count("failures", 3),
    successes: read.count("successes", 1),
  };
}
