import { getLogger, type Logger } from "@logtape/logtape";

/**
 * The library's loggers, all under the `roster` category. roster never
 * configures logging; an application that wants these lines configures
 * LogTape for the `["roster"]` category.
 */
export function logger(...category: string[]): Logger {
  return getLogger(["roster", ...category]);
}
