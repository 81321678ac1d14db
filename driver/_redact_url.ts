/**
 * URLs fit for a log line or an error.
 *
 * @module
 */

/**
 * Masks the password in a connection URL.
 *
 * @param url A URL such as `redis://user:secret@host:6379`.
 * @returns The URL with the password replaced by `***`.
 *
 * @example
 * ```ts
 * import { redactUrl } from "./_redact_url.ts";
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
    // Unparsable (a port out of range, an unclosed '['): mask whatever
    // sits between the user's ':' and the last '@' before the host.
    return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^/]*@/i, "$1***@");
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
 * import { withoutPassword } from "./_redact_url.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(
 *   withoutPassword("Invalid URL: 'pg://u:pw@h:99999'", "pg://u:pw@h:99999"),
 *   "Invalid URL: 'pg://u:***@h:99999'",
 * );
 * ```
 */
export function withoutPassword(message: string, url: string): string {
  const password = /^[a-z][a-z0-9+.-]*:\/\/[^:/@]*:([^/]*)@/i.exec(url)?.[1];
  return password ? message.replaceAll(password, "***") : message;
}
