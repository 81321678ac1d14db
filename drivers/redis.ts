/**
 * The Redis driver: one registry shared by every process that talks to the
 * same Redis (standalone, Sentinel or Cluster).
 *
 * - Expiry is judged by Redis's clock (`TIME` inside Lua), never a client's.
 * - Every mutation is one Lua script; a heartbeat is one `EVALSHA` round
 *   trip (falling back to `EVAL` when the script cache was lost).
 * - A heartbeat carries the whole registration, so it re-creates an entry
 *   that Redis lost (`FLUSHALL`, a restart without persistence, a failover).
 * - Expired entries are purged on the server, and after a gap (Redis paused
 *   or restarted) live instances get one full ttl to beat again before they
 *   are purged.
 *
 * @example Use a Redis client you already have
 * ```ts ignore
 * import { Redis } from "ioredis";
 * import { Registry } from "@roster/roster";
 * import { RedisDriver } from "@roster/roster/redis";
 *
 * const client = new Redis("redis://127.0.0.1:6379");
 * await using registry = new Registry({
 *   driver: new RedisDriver(client, { prefix: "myapp:" }),
 *   service: "api",
 * });
 * await registry.start();
 * ```
 *
 * @module
 */

import { createHash } from "node:crypto";
import { Cluster, Redis, type RedisOptions } from "ioredis";
import { logger } from "../_logger.ts";
import type {
  Driver,
  HeartbeatResult,
  ListQuery,
  Registration,
  RegistrationKey,
} from "../driver.ts";
import { AlreadyRegisteredError } from "../errors.ts";
import type { Instance } from "../instance.ts";
import { DEREGISTER, MAINTAIN, UPSERT } from "./_redis_scripts.ts";

const log = logger("redis");

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
}

type IoRedisClient = Redis | Cluster;

/** Options for {@linkcode RedisDriver}. */
export interface RedisDriverOptions {
  /** Prepended to every key. Default `"roster:"`. */
  prefix?: string;
}

/** How {@linkcode RedisDriver.connect} reaches Redis. */
export interface RedisConnectOptions extends RedisDriverOptions {
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

/** Clients that `RedisDriver.connect` created, and so `close()` closes. */
const OWNED_CLIENTS = new WeakMap<RedisClient, IoRedisClient>();

interface Script {
  source: string;
  sha: string;
}

function script(source: string): Script {
  return { source, sha: createHash("sha1").update(source).digest("hex") };
}

const SCRIPTS = {
  upsert: script(UPSERT),
  deregister: script(DEREGISTER),
  maintain: script(MAINTAIN),
};

type UpsertReply = [
  status: "refreshed" | "created" | "conflict",
  seq: number,
  registeredAt: number,
  expiresAt: number,
];

interface StoredFields {
  version: string;
  addr: string;
  meta: Record<string, string>;
  hostname: string;
  pid: number;
}

/**
 * A driver that keeps the registry in Redis.
 *
 * @example
 * ```ts ignore
 * import { RedisDriver } from "@roster/roster/redis";
 *
 * const driver = await RedisDriver.connect({ url: "redis://127.0.0.1:6379" });
 * console.log(await driver.services("default"));
 * await driver.close();
 * ```
 */
export class RedisDriver implements Driver {
  /** Always `"redis"`. */
  readonly name = "redis";
  /** The client this driver sends commands through. */
  readonly client: RedisClient;
  /** The key prefix. */
  readonly prefix: string;
  /** The static part of each registration, serialized once, not per beat. */
  readonly #payloads = new WeakMap<Registration, string>();

  /**
   * Wraps a client you already have; closing the driver leaves it open.
   *
   * @param client A connected (or connecting) ioredis `Redis` or `Cluster`.
   * @param options The key prefix.
   */
  constructor(client: RedisClient, options: RedisDriverOptions = {}) {
    this.client = client;
    this.prefix = options.prefix ?? "roster:";
  }

  /**
   * Logs connection trouble once per change of state, not once per
   * reconnection attempt; the heartbeat loop reports the failures it sees.
   */
  static #watchConnection(client: IoRedisClient, target: string): void {
    let down = false;
    client.on("error", (error: Error) => {
      if (down) return;
      down = true;
      log.warn(
        "Lost the connection to Redis at {target}: {error}; reconnecting",
        {
          target,
          error: error.message,
        },
      );
    });
    client.on("ready", () => {
      if (!down) return;
      down = false;
      log.info("Reconnected to Redis at {target}", { target });
    });
  }

  /**
   * Connects to Redis and returns a driver that owns its client. The client
   * fails commands at once while disconnected (no unbounded offline queue)
   * and reconnects by itself.
   *
   * @param options Where Redis is and how to log in.
   * @returns A connected driver; `close()` disconnects it.
   * @throws {Error} When Redis cannot be reached; the message never shows a password.
   */
  static async connect(
    options: RedisConnectOptions = {},
  ): Promise<RedisDriver> {
    const client = createClient(options);
    RedisDriver.#watchConnection(client, describeTarget(options));
    // The reason (WRONGPASS, ECONNREFUSED) arrives as an error event; the
    // rejected connect() only says the connection closed.
    let reason: unknown;
    const remember = (error: unknown) => reason ??= error;
    client.on("error", remember);
    try {
      await client.connect();
    } catch (cause) {
      await closeClient(client);
      const message = String((reason as Error)?.message ?? cause);
      throw new Error(
        `Cannot connect to Redis at ${describeTarget(options)}: ${
          redact(message, options)
        }`,
        { cause: reason ?? cause },
      );
    } finally {
      client.off("error", remember);
    }
    OWNED_CLIENTS.set(client, client);
    return new RedisDriver(client, options);
  }

  /**
   * Registers, or refreshes an entry this owner holds.
   *
   * @param registration The registration.
   * @returns The stored instance.
   */
  async register(registration: Registration): Promise<Instance> {
    const [status, seq, registeredAt, expiresAt] = await this.#upsert(
      registration,
    );
    if (status === "conflict") {
      throw new AlreadyRegisteredError(registration.id, registration.env);
    }
    return instanceOf(registration, seq, registeredAt, expiresAt);
  }

  /**
   * One heartbeat: one `EVALSHA`.
   *
   * @param registration The registration to refresh or re-create.
   * @returns The instance and whether it was re-created.
   */
  async heartbeat(registration: Registration): Promise<HeartbeatResult> {
    const [status, seq, registeredAt, expiresAt] = await this.#upsert(
      registration,
    );
    if (status === "conflict") {
      throw new AlreadyRegisteredError(registration.id, registration.env);
    }
    return {
      instance: instanceOf(registration, seq, registeredAt, expiresAt),
      reregistered: status === "created",
    };
  }

  /**
   * Removes the entry if `key.owner` holds it.
   *
   * @param key The registration and its owner.
   * @returns Whether it was removed.
   */
  async deregister(key: RegistrationKey): Promise<boolean> {
    const removed = await this.#run(SCRIPTS.deregister, key.env, [
      key.id,
      key.owner,
      key.service,
    ]);
    return removed === 1;
  }

  /**
   * Lists live instances, oldest first. For named services this is one
   * round trip: a short maintenance script, then plain `HGETALL` and
   * `ZRANGE` of each service, pipelined; listing every service first asks
   * which services exist.
   *
   * @param query The env and services.
   * @returns The live instances.
   */
  async list(query: ListQuery): Promise<Instance[]> {
    let services = [...new Set(query.services ?? [])];
    let now: number;
    let reads: Promise<[Record<string, string>, string[]]>[];
    if (services.length === 0) {
      const [time, ...names] = await this.#run(
        SCRIPTS.maintain,
        query.env,
        [],
      ) as [number, ...string[]];
      [now, services, reads] = [time, names, this.#read(query.env, names)];
    } else {
      // Sent in this order on one connection: the purge runs before the reads.
      const maintained = this.#run(SCRIPTS.maintain, query.env, services);
      reads = this.#read(query.env, services);
      [now] = await maintained as [number];
    }
    const instances: Instance[] = [];
    for (const [i, read] of reads.entries()) {
      const [values, expiries] = await read;
      for (let k = 0; k < expiries.length; k += 2) {
        const id = expiries[k] as string;
        const expiresAt = Number(expiries[k + 1]);
        const value = values[id];
        if (value === undefined || expiresAt <= now) continue;
        const instance = parseEntry(
          id,
          services[i] as string,
          query.env,
          value,
          expiresAt,
        );
        if (instance) instances.push(instance);
      }
    }
    return instances.sort((a, b) => a.seq - b.seq);
  }

  #read(
    env: string,
    services: string[],
  ): Promise<[Record<string, string>, string[]]>[] {
    const base = this.#base(env);
    return services.map((service) =>
      Promise.all([
        this.client.call("HGETALL", `${base}i:${service}`).then(asRecord),
        this.client.call("ZRANGE", `${base}x:${service}`, 0, -1, "WITHSCORES")
          .then(asPairs),
      ])
    );
  }

  /**
   * Lists services with live instances in the env.
   *
   * @param env The env.
   * @returns Sorted names.
   */
  async services(env: string): Promise<string[]> {
    const [, ...names] = await this.#run(SCRIPTS.maintain, env, []) as string[];
    return names.sort();
  }

  /** Disconnects the client if this driver created it. */
  async close(): Promise<void> {
    const owned = OWNED_CLIENTS.get(this.client);
    if (owned) await closeClient(owned);
  }

  #upsert(registration: Registration): Promise<UpsertReply> {
    let payload = this.#payloads.get(registration);
    if (payload === undefined) {
      const stored: StoredFields = {
        version: registration.version,
        addr: registration.addr,
        meta: registration.meta,
        hostname: registration.hostname,
        pid: registration.pid,
      };
      payload = JSON.stringify(stored);
      this.#payloads.set(registration, payload);
    }
    return this.#run(SCRIPTS.upsert, registration.env, [
      registration.id,
      registration.owner,
      registration.ttl,
      registration.service,
      payload,
    ]) as Promise<UpsertReply>;
  }

  #base(env: string): string {
    return `${this.prefix}{${env}}:`;
  }

  /** `EVALSHA`, and `EVAL` only when Redis lost its script cache. */
  async #run(
    script: Script,
    env: string,
    args: (string | number)[],
  ): Promise<unknown> {
    const base = this.#base(env);
    try {
      return await this.client.call("EVALSHA", script.sha, 1, base, ...args);
    } catch (error) {
      if (!String((error as Error)?.message).startsWith("NOSCRIPT")) {
        throw error;
      }
      return await this.client.call("EVAL", script.source, 1, base, ...args);
    }
  }
}

function instanceOf(
  registration: Registration,
  seq: number,
  registeredAt: number,
  expiresAt: number,
): Instance {
  return {
    id: registration.id,
    service: registration.service,
    env: registration.env,
    version: registration.version,
    addr: registration.addr,
    meta: { ...registration.meta },
    hostname: registration.hostname,
    pid: registration.pid,
    seq: Number(seq),
    registeredAt: Number(registeredAt),
    heartbeatAt: Number(expiresAt) - registration.ttl,
    expiresAt: Number(expiresAt),
  };
}

/** Parses `owner\nseq\nregisteredAt\nttl\njson`; a foreign value is skipped. */
function parseEntry(
  id: string,
  service: string,
  env: string,
  value: string,
  expiresAt: number,
): Instance | undefined {
  try {
    const header: string[] = [];
    let start = 0;
    for (let i = 0; i < 4; i++) {
      const end = value.indexOf("\n", start);
      if (end < 0) throw new Error("missing header line");
      header.push(value.slice(start, end));
      start = end + 1;
    }
    const [, seq, registeredAt, ttl] = header;
    const stored = JSON.parse(value.slice(start)) as StoredFields;
    if (typeof stored?.meta !== "object" || stored.meta === null) {
      throw new Error("missing fields");
    }
    return {
      id,
      service,
      env,
      version: String(stored.version ?? ""),
      addr: String(stored.addr ?? ""),
      meta: stored.meta,
      hostname: String(stored.hostname ?? ""),
      pid: Number(stored.pid),
      seq: Number(seq),
      registeredAt: Number(registeredAt),
      heartbeatAt: expiresAt - Number(ttl),
      expiresAt,
    };
  } catch (error) {
    log.warn(
      "Skipping a corrupt or foreign registry entry {id} of service {service} in env {env}: {error}",
      { id, service, env, error },
    );
    return undefined;
  }
}

/** A hash reply as an object, whether it came as RESP2 pairs or a RESP3 map. */
function asRecord(reply: unknown): Record<string, string> {
  if (reply instanceof Map) return Object.fromEntries(reply);
  if (Array.isArray(reply)) {
    const out: Record<string, string> = {};
    for (let i = 0; i < reply.length; i += 2) out[reply[i]] = reply[i + 1];
    return out;
  }
  return (reply ?? {}) as Record<string, string>;
}

/** A `WITHSCORES` reply as alternating members and scores. */
function asPairs(reply: unknown): string[] {
  if (!Array.isArray(reply)) return [];
  // RESP3 nests each member with its score.
  return Array.isArray(reply[0]) ? reply.flat() : reply;
}

function hostPort(address: string): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(address);
  if (!match) throw new Error(`'${address}' is not host:port`);
  return { host: match[1] as string, port: Number(match[2]) };
}

function createClient(options: RedisConnectOptions): IoRedisClient {
  const url = new URL(options.url ?? "redis://127.0.0.1:6379");
  const tls = url.protocol === "rediss:"
    ? (options.tlsCa ? { ca: options.tlsCa } : {})
    : undefined;
  const auth = {
    username: options.username ??
      (url.username ? decodeURIComponent(url.username) : undefined),
    password: options.password ??
      (url.password ? decodeURIComponent(url.password) : undefined),
  };
  const maxDelay = options.maxReconnectDelay ?? options.commandTimeout ??
    2_000;
  const common: RedisOptions = {
    ...auth,
    tls,
    lazyConnect: true,
    // Fail fast while disconnected instead of queueing without bound; the
    // heartbeat loop retries with backoff.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeout ?? 2_000,
    disconnectTimeout: 0,
    connectTimeout: options.connectTimeout ?? 5_000,
    retryStrategy: (attempt) => Math.min(25 * 2 ** attempt, maxDelay),
  };
  if (options.clusterNodes?.length) {
    return new Cluster(options.clusterNodes.map(hostPort), {
      lazyConnect: true,
      enableOfflineQueue: false,
      redisOptions: common,
      clusterRetryStrategy: (attempt) => Math.min(25 * 2 ** attempt, maxDelay),
    });
  }
  if (options.sentinels?.length) {
    return new Redis({
      ...common,
      sentinels: options.sentinels.map(hostPort),
      name: options.name,
      sentinelUsername: auth.username,
      sentinelPassword: auth.password,
      db: Number(url.pathname.slice(1)) || 0,
    });
  }
  return new Redis({
    ...common,
    host: url.hostname.replace(/^\[|\]$/g, ""),
    port: Number(url.port || 6379),
    db: Number(url.pathname.slice(1)) || 0,
  });
}

/**
 * Closes a client we created without leaving ioredis's timers behind: its
 * disconnect arms a timer that only a later "close" event clears, which never
 * comes for a socket that is already closed. With `disconnectTimeout: 0` that
 * timer fires on the next turn, so waiting one turn releases it.
 */
async function closeClient(client: IoRedisClient): Promise<void> {
  if (client.status !== "end") client.disconnect();
  await new Promise((resolve) => setTimeout(resolve, 0));
}

/** Where a connection goes, with any password masked. */
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

/**
 * Masks the password in a Redis URL.
 *
 * @param url A URL such as `redis://user:secret@host:6379`.
 * @returns The URL with the password replaced by `***`.
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(an unparsable URL)";
  }
}

function redact(text: string, options: RedisConnectOptions): string {
  let out = text;
  for (const secret of [options.password, safePassword(options.url)]) {
    if (secret) out = out.split(secret).join("***");
  }
  return out;
}

function safePassword(url: string | undefined): string | undefined {
  try {
    return url
      ? decodeURIComponent(new URL(url).password) || undefined
      : undefined;
  } catch {
    return undefined;
  }
}
