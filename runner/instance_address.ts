/**
 * An instance's `addr` as the tools that are not JavaScript need it: host
 * and port, read the same way for DNS and Prometheus.
 *
 * @module
 */

/** Where an instance listens. */
export interface InstanceAddress {
  /** The host, without IPv6 brackets: an IP address or a name. */
  host: string;
  /** The port: the addr's, or its scheme's default. */
  port: number;
}

/**
 * Reads an instance's `addr`: a URL (`http://10.0.0.7:8080/`) or a bare
 * `host:port`, which is read as HTTP.
 *
 * @param addr The instance's `addr`.
 * @returns Its host and port, or undefined when it names no host.
 *
 * @example
 * ```ts
 * import { parseInstanceAddress } from "./instance_address.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseInstanceAddress("https://[fd00::7]/v1"), { host: "fd00::7", port: 443 });
 * assert.deepEqual(parseInstanceAddress("10.0.0.8:7000"), { host: "10.0.0.8", port: 7000 });
 * assert.equal(parseInstanceAddress(""), undefined);
 * ```
 */
export function parseInstanceAddress(
  addr: string,
): InstanceAddress | undefined {
  if (!addr) return undefined;
  let url: URL;
  try {
    url = new URL(
      /^[a-z][a-z0-9+.-]*:\/\//i.test(addr) ? addr : `http://${addr}`,
    );
  } catch {
    return undefined;
  }
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (!host) return undefined;
  return {
    host,
    port: Number(url.port || (url.protocol === "https:" ? 443 : 80)),
  };
}
