/**
 * URLs fit for a log line or an error.
 *
 * @module
 */

/**
 * A URL's scheme and user (1) and password (2), found as text, so that
 * even a URL that cannot be parsed (a port out of range, an unclosed '[')
 * has its password masked: whatever sits between the user's ':' and the
 * last '@' before the host.
 */
const PASSWORD = /^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)([^/]*)@/i;

/**
 * Masks the password in a connection URL.
 *
 * @param url A URL such as `redis://user:secret@host:6379`.
 * @returns The URL with the password replaced by `***`.
 *
 * @example
 * ```ts
 * import { redactUrl } from "./redact_url.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(redactUrl("redis://:pw@h:1"), "redis://:***@h:1");
 * assert.equal(redactUrl("postgres://u:pw@h:99999/db"), "postgres://u:***@h:99999/db");
 * ```
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return url.replace(PASSWORD, "$1***@");
  }
}

/**
 * Removes a URL's password from a message (an error from a library that
 * quotes the URL it could not parse).
 *
 * @param message The message.
 * @param url The URL whose password must not show.
 * @returns The message, the password masked as `***`.
 *
 * @example
 * ```ts
 * import { withoutPassword } from "./redact_url.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(
 *   withoutPassword("Invalid URL: 'pg://u:pw@h:99999'", "pg://u:pw@h:99999"),
 *   "Invalid URL: 'pg://u:***@h:99999'",
 * );
 * ```
 */
export function withoutPassword(message: string, url: string): string {
  const password = PASSWORD.exec(url)?.[2];
  return password ? message.replaceAll(password, "***") : message;
}
