/**
 * Who may ask the status server: a bearer token, compared in constant time,
 * and without one only requests addressed to this server (no DNS
 * rebinding).
 *
 * @module
 */

import type { HttpConfig } from "../config/http_config.ts";

const encoder = new TextEncoder();

async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(
    await crypto.subtle.digest("SHA-256", encoder.encode(text)),
  );
}

/** Compares two secrets without leaking, by timing, where they differ. */
async function sameSecret(given: string, expected: string): Promise<boolean> {
  // Hashing first makes the comparison length-independent.
  const [a, b] = await Promise.all([digest(given), digest(expected)]);
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}

/**
 * Whether a `Host` header names this server: the address it is bound to, or
 * a loopback name. Without a token this is what stops DNS rebinding, where a
 * web page on `evil.example` resolves its own name to 127.0.0.1 and reads
 * the tokenless server from the victim's browser.
 *
 * @param host The request's `Host` header.
 * @param bound The address the server is bound to.
 * @returns Whether it names this server.
 */
export function namesThisServer(host: string | null, bound: string): boolean {
  if (host === null) return false;
  const name = host.replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1")
    .toLowerCase();
  return name === bound.toLowerCase() || name === "localhost" ||
    name === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/**
 * Whether a request carries the token, when one is set. A token in the URL
 * opens the page only: URLs end up in logs and histories, so the APIs and
 * the stream take the header alone.
 *
 * @param config The token, if any.
 * @param request The request.
 * @param url Its parsed URL.
 * @returns Whether it may be answered.
 */
export async function authorized(
  config: HttpConfig,
  request: Request,
  url: URL,
): Promise<boolean> {
  if (config.token === undefined) return true;
  const header = request.headers.get("authorization") ?? "";
  const given = header.startsWith("Bearer ")
    ? header.slice(7)
    : url.pathname === "/"
    ? url.searchParams.get("token") ?? ""
    : "";
  return given !== "" && await sameSecret(given, config.token);
}
