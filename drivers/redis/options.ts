/**
 * How the Redis driver reaches Redis: the options, and how a target is
 * described in logs and errors with its password masked. This module loads
 * no Redis client, so validating a config costs nothing until a connection
 * is wanted.
 *
 * @module
 */

import { redactUrl } from "../../contract/redact_url.ts";

/**
 * What the driver needs of a client: an ioredis `Redis` (standalone or
 * Sentinel-managed) or `Cluster` fits as it is.
 */
export interface RedisClient {
  /**
   * Sends one command.
   *
   * @param command The command name, such as `EVALSHA`.
   * @param args Its arguments.
   * @returns The reply.
   */
  call(command: string, ...args: (string | number)[]): Promise<unknown>;
  /**
   * Makes another connection like this one. When the client has it (ioredis
   * clients do), watches and messages arrive through a Pub/Sub connection
   * of its own; without it, watching polls.
   *
   * @returns A new client.
   */
  duplicate?(): unknown;
}

/** Options for `RedisDriver`. */
export interface RedisDriverOptions {
  /** Prepended to every key. Default `"roster:"`. */
  prefix?: string;
  /**
   * A client that serves listings (`list`, `services`, `snapshot`), such
   * as a connection to a replica. Default: the main client.
   */
  readClient?: RedisClient;
}

/** How `RedisDriver.connect` reaches Redis. */
export interface RedisConnectOptions {
  /** Prepended to every key. Default `"roster:"`. */
  prefix?: string;
  /**
   * `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS.
   * Default `redis://127.0.0.1:6379`. Ignored for Sentinel and Cluster
   * except for its credentials and TLS.
   */
  url?: string;
  /** The ACL user name; overrides the URL's. */
  username?: string;
  /** The password; overrides the URL's. Never logged. */
  password?: string;
  /**
   * Extra certificate authorities (PEM) to trust for `rediss://`, for a
   * server whose certificate a private CA signed.
   */
  tlsCa?: string;
  /** Sentinel addresses as `host:port`; requires `name`. */
  sentinels?: string[];
  /** The Sentinel master group name. */
  name?: string;
  /** Cluster seed nodes as `host:port`. */
  clusterNodes?: string[];
  /**
   * Serve listings (`list`, `services`, `snapshot`) from replicas: through
   * a replica connection under Sentinel, with `scaleReads: "slave"` in a
   * Cluster. A replica may lag its master by a little; heartbeats and the
   * change log always use the master. Default false.
   */
  replicaReads?: boolean;
  /** How long one command may take, in ms. Default 2000. */
  commandTimeout?: number;
  /** How long connecting may take, in ms. Default 5000. */
  connectTimeout?: number;
  /**
   * The longest wait between reconnection attempts, in ms. Default: the
   * command timeout, so a returning Redis is noticed about as fast as a
   * heartbeat would give up on it.
   */
  maxReconnectDelay?: number;
}

/**
 * Where a connection goes, with any password masked.
 *
 * @param options The connection options.
 * @returns A short description for logs and errors.
 *
 * @example
 * ```ts
 * import { describeTarget } from "./options.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(
 *   describeTarget({ url: "redis://app:secret@10.0.0.5:6379" }),
 *   "redis://app:***@10.0.0.5:6379",
 * );
 * ```
 */
export function describeTarget(options: RedisConnectOptions): string {
  if (options.clusterNodes?.length) {
    return `cluster ${options.clusterNodes.join(",")}`;
  }
  if (options.sentinels?.length) {
    return `sentinel master '${options.name}' via ${
      options.sentinels.join(",")
    }`;
  }
  return redactUrl(options.url ?? "redis://127.0.0.1:6379");
}

// Masks the password in a URL; shared by the drivers that take one.
export { redactUrl };

/**
 * Replaces every password the options hold with `***` in a text.
 *
 * @param text A message that may quote a password.
 * @param options The connection options.
 * @returns The text without passwords.
 */
export function redactSecrets(
  text: string,
  options: RedisConnectOptions,
): string {
  let out = text;
  for (const secret of [options.password, urlPassword(options.url)]) {
    if (secret) out = out.split(secret).join("***");
  }
  return out;
}

function urlPassword(url: string | undefined): string | undefined {
  try {
    return url
      ? decodeURIComponent(new URL(url).password) || undefined
      : undefined;
  } catch {
    return undefined;
  }
}
