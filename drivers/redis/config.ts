/**
 * The `[cluster.redis]` table: where Redis is and how to log in. Secrets can
 * come from `ROSTER_REDIS_URL` and `ROSTER_REDIS_PASSWORD`, and no error
 * ever shows a password.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import {
  type ConfigTable,
  describeValue as describe,
  HOST_PORT,
} from "../../contract/config_table.ts";
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
  const table = read.raw;
  const fail = (key: string, message: string): never => read.fail(key, message);
  const text = (key: typeof KEYS[number]): string | undefined =>
    read.text(key, { secret: key === "password" || key === "url" });
  const nodes = (key: "sentinels" | "cluster_nodes"): string[] | undefined => {
    const value = table[key];
    if (value === undefined) return undefined;
    // From an environment variable a list is comma-separated.
    const list = typeof value === "string"
      ? value.split(",").map((s) => s.trim()).filter(Boolean)
      : value;
    if (
      !Array.isArray(list) || list.length === 0 ||
      !list.every((node) => typeof node === "string" && HOST_PORT.test(node))
    ) {
      fail(
        key,
        `Invalid 'redis.${key}': ${
          describe(value)
        } must be a non-empty list of "host:port" strings, such as ["10.0.0.1:26379"]`,
      );
    }
    return list as string[];
  };
  const url = text("url");
  if (url !== undefined) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      // Reported below without echoing a URL that may hold a password.
    }
    if (
      !parsed || (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:")
    ) {
      fail(
        "url",
        `Invalid 'redis.url': ${
          parsed ? `'${redactUrl(url)}'` : "the value"
        } must look like redis://[user:password@]host[:port][/db], or rediss:// for TLS`,
      );
    } else if (
      parsed.pathname.length > 1 && !/^\/\d{1,2}$/.test(parsed.pathname)
    ) {
      fail(
        "url",
        `Invalid 'redis.url': the database in '${
          redactUrl(url)
        }' must be a number, such as /0`,
      );
    }
  }
  const sentinels = nodes("sentinels");
  const clusterNodes = nodes("cluster_nodes");
  const name = text("name");
  if (sentinels && clusterNodes) {
    fail(
      "sentinels",
      "'redis.sentinels' and 'redis.cluster_nodes' are both set; a Redis is either Sentinel-managed or a Cluster, so keep one",
    );
  }
  if (sentinels && !name) {
    fail(
      "name",
      "'redis.sentinels' is set without 'redis.name'; add the master group name, such as name = \"mymaster\"",
    );
  }
  if (name && !sentinels) {
    fail(
      "name",
      "'redis.name' is set without 'redis.sentinels'; it names a Sentinel master group, so add the sentinels or remove it",
    );
  }
  const prefix = text("prefix");
  if (prefix !== undefined && /[{}]/.test(prefix)) {
    fail(
      "prefix",
      `Invalid 'redis.prefix': '${prefix}' must not contain '{' or '}', which roster uses for Cluster hash tags`,
    );
  }
  const caFile = text("tls_ca_file");
  let tlsCa: string | undefined;
  if (caFile !== undefined) {
    try {
      tlsCa = readFileSync(caFile, "utf8");
    } catch (cause) {
      fail(
        "tls_ca_file",
        `Cannot read 'redis.tls_ca_file' '${caFile}': ${
          (cause as { code?: string })?.code === "ENOENT"
            ? "it does not exist"
            : (cause as Error)?.message ?? String(cause)
        }; point it at the PEM file of the CA that signed the Redis certificate`,
      );
    }
  }
  const replicaReads = read.flag("replica_reads", false);
  if (replicaReads && !sentinels && !clusterNodes) {
    fail(
      "replica_reads",
      "'redis.replica_reads' needs 'redis.sentinels' or 'redis.cluster_nodes', which find the replicas; remove it for a single Redis",
    );
  }
  return {
    url,
    tlsCa,
    replicaReads: replicaReads || undefined,
    username: text("username"),
    password: text("password"),
    prefix,
    sentinels,
    name,
    clusterNodes,
  };
}
