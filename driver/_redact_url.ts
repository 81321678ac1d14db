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
 * ```
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(an unparsable URL)";
  }
}
