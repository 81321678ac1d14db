/**
 * How the runner writes: status lines for people (`roster: …`) or one JSON
 * object a line, colours only on a terminal that wants them, and every
 * value from the registry made safe to print.
 *
 * @module
 */

import process from "node:process";

let jsonLines = false;

/** How commands print: a table, a wide one with meta, or JSON. */
export type OutputFormat = "table" | "wide" | "json";

/**
 * Makes every line the runner writes, stdout and stderr, a JSON object.
 *
 * @param on Whether to.
 */
export function setJsonLines(on: boolean): void {
  jsonLines = on;
}

/** Whether lines are JSON. */
export function isJsonLines(): boolean {
  return jsonLines;
}

/**
 * Writes a status line to stdout: `roster: text` for people, or
 * `{"time", "event", ...fields}` as JSON.
 *
 * @param event What happened, such as `registered`.
 * @param text The line for people, without the `roster: ` prefix.
 * @param fields The facts, for JSON.
 */
export function report(
  event: string,
  text: string,
  fields: Record<string, unknown> = {},
): void {
  if (jsonLines) {
    console.log(
      JSON.stringify({ time: new Date().toISOString(), event, ...fields }),
    );
  } else console.log(`roster: ${terminalSafe(text)}`);
}

/** Writes output (a table, JSON) to stdout as it is. */
export function out(text: string): void {
  console.log(text);
}

/**
 * Writes an error line to stderr: `roster: message`, or JSON.
 *
 * @param message One sentence.
 */
export function fail(message: string): void {
  toStderr("error", message);
}

/** Writes a note for people to stderr: `roster: message`, or JSON. */
export function note(message: string): void {
  toStderr("info", message);
}

function toStderr(level: "error" | "info", message: string): void {
  console.error(
    jsonLines
      ? JSON.stringify({
        time: new Date().toISOString(),
        level,
        event: level === "error" ? "error" : "note",
        message,
      })
      : `roster: ${terminalSafe(message)}`,
  );
}

// C0 and C1 controls, DEL, and the bidirectional overrides that can make a
// line read differently from what it holds.
const UNSAFE =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Escapes what a terminal would obey rather than show: an ESC sequence that
 * clears the screen or writes the clipboard, a newline that forges a row.
 *
 * @param text Text that may come from another process.
 * @returns The text with each such character as a visible escape (`\x1b`, `\n`).
 */
export function terminalSafe(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    if (c === "\n") return "\\n";
    if (c === "\t") return "\\t";
    if (c === "\r") return "\\r";
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/** Whether stdout is a terminal that wants colour (`NO_COLOR` unset). */
export function useColor(): boolean {
  return !jsonLines && process.stdout.isTTY === true &&
    !process.env.NO_COLOR;
}

const COLORS = { green: 32, red: 31, yellow: 33, dim: 2, bold: 1 } as const;

/**
 * Colours text for a terminal, when colour is wanted.
 *
 * @param text The text.
 * @param color The colour.
 * @param options `enabled`: whether to colour.
 * @returns The text, coloured or not.
 */
export function paint(
  text: string,
  color: keyof typeof COLORS,
  options: { enabled: boolean },
): string {
  return options.enabled ? `\x1b[${COLORS[color]}m${text}\x1b[0m` : text;
}
