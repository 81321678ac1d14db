/**
 * A `listen = "host:port"` key, as the status server's and the DNS
 * server's tables write it.
 *
 * @module
 */

import { isIP } from "node:net";
import type { ConfigTable } from "../../contract/config_table.ts";

/** Where a server listens. */
export interface ListenAddress {
  /** The address to bind, without brackets. */
  hostname: string;
  /** The port; 0 picks a free one. */
  port: number;
}

/**
 * Reads and checks a `host:port` key.
 *
 * @param read The table.
 * @param table The table's name, quoted in errors (`http`, `dns`).
 * @param fallback The address when the key is unset.
 * @returns The host and port.
 * @throws {ConfigError} Naming the key, the value and an example.
 *
 * @example
 * ```ts
 * import { ConfigTable } from "../../contract/config_table.ts";
 * import { parseListenAddress } from "./listen_address.ts";
 * import assert from "node:assert/strict";
 *
 * const read = new ConfigTable(
 *   { listen: "[::1]:8600" },
 *   "c.toml",
 *   "dns",
 *   ["listen"],
 *   new Map(),
 * );
 * assert.deepEqual(parseListenAddress(read, "dns", "127.0.0.1:8600"), {
 *   hostname: "::1",
 *   port: 8600,
 * });
 * ```
 */
export function parseListenAddress(
  read: ConfigTable,
  table: string,
  fallback: string,
): ListenAddress {
  const listen = read.text("listen") ?? fallback;
  const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(listen);
  const port = Number(match?.[2]);
  if (!match || port > 65535) {
    read.fail(
      "listen",
      `Invalid '${table}.listen': '${listen}' must be host:port, such as "${fallback}"`,
    );
  }
  const host = match?.[1] as string;
  const hostname = host.replace(/^\[|\]$/g, "");
  // A name of digits and dots must be an IPv4 address, a bracketed one IPv6:
  // '127.999.0.1' is a typo, not a host name to look up.
  const wantIp = host.startsWith("[") ? 6 : /^[\d.]+$/.test(host) ? 4 : 0;
  if (wantIp !== 0 && isIP(hostname) !== wantIp) {
    read.fail(
      "listen",
      `Invalid '${table}.listen': '${hostname}' in '${listen}' is not a valid IPv${wantIp} address; use one such as "${fallback}"`,
    );
  }
  return { hostname, port };
}
