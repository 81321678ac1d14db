/**
 * The `[cluster.redis]` table: where Redis is and how to log in. Secrets can
 * come from `ROSTER_REDIS_URL` and `ROSTER_REDIS_PASSWORD`, and no error
 * ever shows a password.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { type ConfigTable, HOST_PORT } from "../../contract/config_table.ts";
import type { DriverConfig } from "../../contract/driver_config.ts";
import type { Driver } from "../../contract/driver.ts";
import { redactUrl } from "../../contract/redact_url.ts";
import type { RedisConnectOptions } from "./options.ts";

const KEYS = [
  "url",
  "username",
  "password",
  "prefix",
  "sentinels",
  "name",
  "cluster_nodes",
  "tls_ca_file",
  "replica_reads",
] as const;

/** The Redis driver's entry in the runner's driver table. */
export const redisConfig: DriverConfig<RedisConnectOptions> = {
  name: "redis",
  shared: true,
  keys: KEYS,
  flags: { url: "redis-url" },
  parse: parseRedisTable,
  async connect(options, timing): Promise<Driver> {
    const { RedisDriver } = await import("./mod.ts");
    // A command may take no longer than a heartbeat may.
    return await RedisDriver.connect({
      ...options,
      commandTimeout: timing.heartbeatTimeout,
    });
  },
};

/**
 * Validates a `[cluster.redis]` table.
 *
 * @param read The table, with environment overrides merged in.
 * @returns Connection options for `RedisDriver.connect`.
 * @throws {ConfigError} Naming the key and the fix.
 */
function parseRedisTable(read: ConfigTable): RedisConnectOptions {
  const secret = { secret: true };
  const { sentinels, name, clusterNodes } = readTopology(read);
  const prefix = read.text("prefix");
  if (prefix !== undefined && /[{}]/.test(prefix)) {
    read.fail(
      "prefix",
      `Invalid 'redis.prefix': '${prefix}' must not contain '{' or '}', which roster uses for Cluster hash tags`,
    );
  }
  const replicaReads = read.flag("replica_reads", false);
  if (replicaReads && !sentinels && !clusterNodes) {
    read.fail(
      "replica_reads",
      "'redis.replica_reads' needs 'redis.sentinels' or 'redis.cluster_nodes', which find the replicas; remove it for a single Redis",
    );
  }
  return {
    url: readUrl(read),
    tlsCa: readCaFile(read),
    replicaReads: replicaReads || undefined,
    username: read.text("username"),
    password: read.text("password", secret),
    prefix,
    sentinels,
    name,
    clusterNodes,
  };
}

/** `url`: redis:// or rediss://, with a numeric database; never echoed whole. */
function readUrl(read: ConfigTable): string | undefined {
  const url = read.text("url", { secret: true });
  if (url === undefined) return undefined;
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    // Reported below without echoing a URL that may hold a password.
  }
  if (
    !parsed || (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:")
  ) {
    read.fail(
      "url",
      `Invalid 'redis.url': ${
        parsed ? `'${redactUrl(url)}'` : "the value"
      } must look like redis://[user:password@]host[:port][/db], or rediss:// for TLS`,
    );
  }
  if (parsed.pathname.length > 1 && !/^\/\d{1,2}$/.test(parsed.pathname)) {
    read.fail(
      "url",
      `Invalid 'redis.url': the database in '${
        redactUrl(url)
      }' must be a number, such as /0`,
    );
  }
  return url;
}

/** Sentinel (`sentinels` and `name`) or Cluster (`cluster_nodes`), or neither. */
function readTopology(read: ConfigTable): {
  sentinels: string[] | undefined;
  name: string | undefined;
  clusterNodes: string[] | undefined;
} {
  const nodes = (key: string) =>
    read.list(
      key,
      HOST_PORT,
      '"host:port" strings, such as ["10.0.0.1:26379"]',
    );
  const sentinels = nodes("sentinels");
  const clusterNodes = nodes("cluster_nodes");
  const name = read.text("name");
  if (sentinels && clusterNodes) {
    read.fail(
      "sentinels",
      "'redis.sentinels' and 'redis.cluster_nodes' are both set; a Redis is either Sentinel-managed or a Cluster, so keep one",
    );
  }
  if (sentinels && !name) {
    read.fail(
      "name",
      "'redis.sentinels' is set without 'redis.name'; add the master group name, such as name = \"mymaster\"",
    );
  }
  if (name && !sentinels) {
    read.fail(
      "name",
      "'redis.name' is set without 'redis.sentinels'; it names a Sentinel master group, so add the sentinels or remove it",
    );
  }
  return { sentinels, name, clusterNodes };
}

/** `tls_ca_file`: the PEM text of the CA that signed Redis's certificate. */
function readCaFile(read: ConfigTable): string | undefined {
  const caFile = read.text("tls_ca_file");
  if (caFile === undefined) return undefined;
  try {
    return readFileSync(caFile, "utf8");
  } catch (cause) {
    read.fail(
      "tls_ca_file",
      `Cannot read 'redis.tls_ca_file' '${caFile}': ${
        (cause as { code?: string })?.code === "ENOENT"
          ? "it does not exist"
          : (cause as Error)?.message ?? String(cause)
      }; point it at the PEM file of the CA that signed the Redis certificate`,
    );
  }
}
