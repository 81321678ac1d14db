import { getLogger, type Logger } from "@logtape/logtape";

/**
 * The library's loggers, all under the `roster` category. roster never
 * configures logging; an application that wants these lines configures
 * LogTape for the `["roster"]` category.
 */
export function logger(...category: string[]): Logger {
  return getLogger(["roster", ...category]);
}

/**
 * An error's message for a log line. Backend errors can carry the command
 * that failed, arguments and all (a heartbeat's include its owner token),
 * so logs quote the message and never the object.
 */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * An error's stack for a DEBUG line, beside the one-line WARN that quotes
 * its message: the message, then where it was thrown.
 */
export function errorStack(error: unknown): string {
  return error instanceof Error ? error.stack ?? error.message : String(error);
}
