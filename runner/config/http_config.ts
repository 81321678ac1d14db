/**
 * The `[cluster.http]` table: where the status server listens, and the
 * token it requires.
 *
 * @module
 */

import { ConfigTable } from "../../contract/config_table.ts";
import { parseListenAddress } from "./listen_address.ts";

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
  /**
   * How long one event stream lasts, in ms, before the page opens another
   * (30 s); not a config key, for tests.
   */
  streamLifetimeMs?: number;
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
  const { hostname, port } = parseListenAddress(read, "http", "127.0.0.1:9090");
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
      `The status server refuses to listen on '${
        read.text("listen")
      }', which is not a loopback address, without a token; set 'http.token' or ROSTER_HTTP_TOKEN, or listen on 127.0.0.1`,
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
