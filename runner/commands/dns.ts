/**
 * `roster dns`.
 *
 * @module
 */

import { ConfigError } from "../../mod.ts";
import { SOURCE } from "../cli/flags.ts";
import type { RunnerConfig } from "../config/config.ts";
import type { DnsConfig } from "../config/dns_config.ts";
import { fail, report } from "../output.ts";
import type { Command } from "./command.ts";
import { discover, discoveryRegistry, stopSignals } from "./_discover.ts";
import type { Driver } from "../../mod.ts";

/**
 * Starts the DNS server of `[cluster.dns]` on a registry of its own that
 * answers from a watched view; says why it cannot.
 *
 * @param config The config, with a `[cluster.dns]` table.
 * @param driver The driver to read through.
 * @returns The server and its registry, or undefined after saying why not.
 */
export async function serveDns(
  config: RunnerConfig,
  driver: Driver,
): Promise<
  { shutdown(): Promise<void> } | undefined
> {
  const dns = config.dns as DnsConfig;
  const { startDnsServer } = await import("../dns/dns_server.ts");
  const registry = discoveryRegistry(config, driver, { cache: true });
  try {
    const server = await startDnsServer(dns, registry);
    const where = `${
      dns.hostname.includes(":") ? `[${dns.hostname}]` : dns.hostname
    }:${server.port}`;
    report(
      "serving",
      `DNS server on ${where} (UDP and TCP) for *.${config.resolved.env}.${dns.domain}.`,
      { dns: where, domain: dns.domain },
    );
    return {
      async shutdown() {
        await server.shutdown();
        await registry.stop();
      },
    };
  } catch (error) {
    await registry.stop();
    const code = (error as { code?: string })?.code;
    fail(
      `cannot start the DNS server on ${dns.hostname}:${dns.port}: ${
        code === "EADDRINUSE"
          ? "the port is in use; pick another 'dns.listen'"
          : (error as Error)?.message ?? String(error)
      }`,
    );
    return undefined;
  }
}

/**
 * `dns`: the DNS server of `[cluster.dns]`, registering nothing; until
 * SIGTERM or SIGINT.
 */
function dns(config: RunnerConfig): Promise<number> {
  return discover(config, async (_registry, driver) => {
    const served = await serveDns(config, driver);
    if (!served) return 1;
    using signals = stopSignals();
    const signal = await signals.stopped;
    await served.shutdown();
    report("stopped", `stopped on ${signal}`, { signal });
    return 0;
  });
}

/** `roster dns`. */
export const dnsCommand: Command = {
  usage: "roster dns --config FILE",
  summary:
    "answer DNS (A, AAAA, SRV) for the live instances, as [cluster.dns] says, registering nothing",
  flags: [...SOURCE],
  example: "roster dns --config cluster.toml",
  needsFile: true,
  check({ config }) {
    if (!config.dns) {
      throw new ConfigError(
        `'${config.file}': 'dns' needs a [cluster.dns] table; add one with listen = "127.0.0.1:8600"`,
        { file: config.file, field: "dns" },
      );
    }
  },
  run: (o) => dns(o.config),
};
