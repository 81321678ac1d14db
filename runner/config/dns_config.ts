/**
 * The `[cluster.dns]` table: where the DNS server listens, the domain it
 * answers for, and the TTL of its answers.
 *
 * @module
 */

import { ConfigTable } from "../../contract/config_table.ts";
import { type ListenAddress, parseListenAddress } from "./listen_address.ts";

/** Where the DNS server listens, and what it answers. */
export interface DnsConfig extends ListenAddress {
  /** The domain its names end in, lowercase, without the final dot. */
  domain: string;
  /** The TTL of its answers, in whole seconds. */
  ttlSeconds: number;
}

/** The longest answer TTL: names follow a registry that changes by the second. */
const MAX_DNS_TTL_MS = 60_000;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Validates a `[cluster.dns]` table.
 *
 * @param table The table, with environment overrides merged in.
 * @param file The config file, named in errors.
 * @param sources Where each `dns.<key>` came from.
 * @returns Where to listen, the domain and the TTL.
 * @throws {ConfigError} Naming the key and the fix.
 *
 * @example
 * ```ts
 * import { parseDnsConfig } from "./dns_config.ts";
 * import assert from "node:assert/strict";
 *
 * const dns = parseDnsConfig({ listen: "127.0.0.1:8600" }, "cluster.toml");
 * assert.equal(dns.domain, "roster");
 * assert.equal(dns.ttlSeconds, 2);
 * ```
 */
export function parseDnsConfig(
  table: Record<string, unknown>,
  file: string,
  sources: Map<string, string> = new Map(),
): DnsConfig {
  const read = new ConfigTable(
    table,
    file,
    "dns",
    ["listen", "domain", "ttl"],
    sources,
  );
  const { hostname, port } = parseListenAddress(read, "dns", "127.0.0.1:8600");
  const domain = (read.text("domain") ?? "roster").toLowerCase().replace(
    /\.$/,
    "",
  );
  if (domain.length > 200 || !domain.split(".").every((l) => LABEL.test(l))) {
    read.fail(
      "domain",
      `Invalid 'dns.domain': '${domain}' must be DNS labels of letters, digits and '-' joined by dots, such as "roster" or "svc.example.internal"`,
    );
  }
  const ttl = read.duration("ttl", 2_000, { allowZero: true });
  if (ttl > MAX_DNS_TTL_MS || ttl % 1000 !== 0) {
    read.fail(
      "ttl",
      `Invalid 'dns.ttl': ${ttl}ms must be whole seconds from 0 to 60s; a resolver would serve a dead instance for that long`,
    );
  }
  return { hostname, port, domain, ttlSeconds: ttl / 1000 };
}
