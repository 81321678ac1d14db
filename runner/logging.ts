/**
 * The runner's logging. The library only logs through LogTape; the runner,
 * being an application, is where logging gets configured.
 *
 * @module
 */

import {
  configure,
  getConsoleSink,
  getStreamSink,
  getTextFormatter,
  jsonLinesFormatter,
  type LogLevel,
  type Sink,
} from "@logtape/logtape";
import process from "node:process";
import { Writable } from "node:stream";
import { inspect } from "node:util";
import { ConfigError } from "../mod.ts";

/** The levels `--log-level` accepts. */
export const LOG_LEVELS: readonly LogLevel[] = [
  "trace",
  "debug",
  "info",
  "warning",
  "error",
  "fatal",
];
/** The formats `--log-format` accepts. */
export const LOG_FORMATS = ["text", "json"] as const;

/**
 * Where log lines go. Normally a stream to stderr, so stdout stays for
 * output. Under Deno's OpenTelemetry (`OTEL_DENO=true`), which exports
 * console calls as log records, each record goes through the console
 * method of its level (`console.debug`, `info`, `warn`, `error`), so it
 * keeps its severity; writing everything with `console.error` would turn
 * every line into an ERROR.
 */
function logSink(formatter: (record: Parameters<Sink>[0]) => string): Sink {
  if (process.env.OTEL_DENO === "true") return getConsoleSink({ formatter });
  return getStreamSink(
    Writable.toWeb(process.stderr) as WritableStream<Uint8Array>,
    { formatter },
  );
}

/**
 * Sends roster's log records to stderr.
 *
 * @param level The lowest level to print.
 * @param format `text` for people, `json` for one JSON object a line.
 * @throws {ConfigError} For an unknown level or format.
 */
export async function configureRunnerLogging(
  level: string | undefined,
  format: string | undefined,
): Promise<void> {
  if (!LOG_LEVELS.includes(level as LogLevel)) {
    throw new ConfigError(
      `Invalid '--log-level': '${level}' is not a level; use one of ${
        LOG_LEVELS.join(", ")
      }`,
      { field: "--log-level" },
    );
  }
  if (!LOG_FORMATS.includes(format as typeof LOG_FORMATS[number])) {
    throw new ConfigError(
      `Invalid '--log-format': '${format}' is not a format; use text or json`,
      { field: "--log-format" },
    );
  }
  // Text lines show string values as they are: `at redis://host:6379`,
  // not `at "redis://host:6379"`.
  const formatter = format === "json" ? jsonLinesFormatter : getTextFormatter({
    value: (value) => typeof value === "string" ? value : inspect(value),
  });
  await configure({
    reset: true,
    sinks: { stderr: logSink(formatter) },
    loggers: [
      {
        category: ["roster"],
        lowestLevel: level as LogLevel,
        sinks: ["stderr"],
      },
      {
        category: ["logtape", "meta"],
        lowestLevel: "warning",
        sinks: ["stderr"],
      },
    ],
  });
}
