/**
 * The `[cluster.http]` table: where the status server listens, and the
 * token it requires.
 *
 * @module
 */

import { isIP } from "node:net";
import { ConfigTable } from "../../contract/config_table.ts";

/** Where the status server listens. */
export interface HttpConfig {
  /** The address to bind. */
  hostname: string;
  /** The port; 0 picks a free one. */
  port: number;
  /** The bearer token clients must send, if any. */
  token: string | undefined;
  /** How many dashboard event streams may be open at once. */
  maxStreams?: number;
}

/**
 * Whether a host name is a loopback address.
 *
 * @param hostname The host.
 * @returns True for 127.0.0.0/8, ::1 and localhost.
 */
export function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "::1" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/**
 * Validates a `[cluster.http]` table. The server refuses a non-loopback
 * address without a token.
 *
 * @param table The table, with environment overrides merged in.
 * @param file The config file, named in errors.
 * @param sources Where each `http.<key>` came from.
 * @returns Where to listen, and the token.
 * @throws {ConfigError} Naming the key and the fix.
 */
export function parseHttpConfig(
  table: Record<string, unknown>,
  file: string,
  sources: Map<string, string> = new Map(),
): HttpConfig {
  const read = new ConfigTable(
    table,
    file,
    "http",
    ["listen", "token", "max_streams"],
    sources,
  );
  const listen = read.text("listen") ?? "127.0.0.1:9090";
  const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(listen);
  const port = Number(match?.[2]);
  if (!match || port > 65535) {
    read.fail(
      "listen",
      `Invalid 'http.listen': '${listen}' must be host:port, such as "127.0.0.1:9090"`,
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
      `Invalid 'http.listen': '${hostname}' in '${listen}' is not a valid IPv${wantIp} address; use one such as "127.0.0.1:9090"`,
    );
  }
  const token = read.text("token", { secret: true });
  if (token !== undefined && token.trim() !== token) {
    read.fail(
      "token",
      "Invalid 'http.token': it starts or ends with whitespace, which a client's header would lose; use a long random secret",
    );
  }
  if (token !== undefined && token.length < 16) {
    read.fail(
      "token",
      "Invalid 'http.token': it is shorter than 16 characters; use a long random secret",
    );
  }
  if (!isLoopback(hostname) && token === undefined) {
    read.fail(
      "token",
      `The status server refuses to listen on '${listen}', which is not a loopback address, without a token; set 'http.token' or ROSTER_HTTP_TOKEN, or listen on 127.0.0.1`,
    );
  }
  const maxStreams = read.count("max_streams", 100);
  if (maxStreams > 10_000) {
    read.fail(
      "max_streams",
      `Invalid 'http.max_streams': ${maxStreams} is more than 10000; each stream holds a connection`,
    );
  }
  return { hostname, port, token, maxStreams };
}
