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
import {
  type Change,
  type ChangeBatch,
  type Driver,
  type HeartbeatResult,
  instanceOf,
  type ListQuery,
  type Registration,
  type RegistrationKey,
  type Snapshot,
} from "../driver.ts";
import { AlreadyRegisteredError, ChangeLogGapError } from "../errors.ts";
import type { Instance } from "../instance.ts";
import {
  DEREGISTER,
  MAINTAIN,
  READ_CHANGES,
  UPSERT,
} from "./_redis_scripts.ts";

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
  /**
   * Makes another connection like this one. When the client has it (ioredis
   * clients do), watching blocks on a connection of its own and messages
   * arrive through another; without it, watching polls.
   *
   * @returns A new client.
   */
  duplicate?(): unknown;
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
  readChanges: script(READ_CHANGES),
};

/** The longest a blocking read of the change log waits. */
const MAX_BLOCK_MS = 1_000;
/** The most changes read at once. */
const CHANGES_PER_READ = 1_000;

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
  /** Makes the extra connections for blocking reads and pub/sub. */
  #newConnection: (() => Promise<IoRedisClient>) | undefined;
  #blocking: Promise<IoRedisClient> | undefined;
  #closed = false;
  #subscriber: Promise<IoRedisClient> | undefined;
  readonly #handlers = new Map<string, Set<(payload: string) => void>>();

  /**
   * Wraps a client you already have; closing the driver leaves it open.
   *
   * @param client A connected (or connecting) ioredis `Redis` or `Cluster`.
   * @param options The key prefix.
   */
  constructor(client: RedisClient, options: RedisDriverOptions = {}) {
    this.client = client;
    this.prefix = options.prefix ?? "roster:";
    if (typeof client.duplicate === "function") {
      this.#newConnection = () =>
        connectSide(client.duplicate!() as IoRedisClient);
    }
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
    const driver = new RedisDriver(client, options);
    driver.#newConnection = () => {
      // Blocking reads outlast the command timeout of the main connection.
      const side = createClient({
        ...options,
        commandTimeout: MAX_BLOCK_MS + (options.commandTimeout ?? 2_000),
      });
      RedisDriver.#watchConnection(side, describeTarget(options));
      return connectSide(side);
    };
    return driver;
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
      "registered",
    );
    if (status === "conflict") {
      throw new AlreadyRegisteredError(registration.id, registration.env);
    }
    return instanceOf(registration, {
      seq: Number(seq),
      registeredAt: Number(registeredAt),
      expiresAt: Number(expiresAt),
    });
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
      "reregistered",
    );
    if (status === "conflict") {
      throw new AlreadyRegisteredError(registration.id, registration.env);
    }
    return {
      instance: instanceOf(registration, {
        seq: Number(seq),
        registeredAt: Number(registeredAt),
        expiresAt: Number(expiresAt),
      }),
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
    const services = [...new Set(query.services ?? [])];
    if (services.length === 0) {
      return (await this.snapshot(query.env)).instances;
    }
    // Sent in this order on one connection: the purge runs before the reads.
    const maintained = this.#run(SCRIPTS.maintain, query.env, services);
    const reads = this.#read(query.env, services);
    const [now] = await maintained as [number];
    return await this.#collect(query.env, services, reads, now);
  }

  /**
   * The live instances of every service, and the change-log cursor taken
   * before they were read.
   *
   * @param env The env.
   * @returns Instances and cursor.
   */
  async snapshot(env: string): Promise<Snapshot> {
    const [now, cursor, ...services] = await this.#run(
      SCRIPTS.maintain,
      env,
      [],
    ) as [number, string, ...string[]];
    const reads = this.#read(env, services);
    return {
      instances: await this.#collect(env, services, reads, now),
      cursor,
    };
  }

  /**
   * Purges the env's expired entries.
   *
   * @param env The env.
   */
  async purge(env: string): Promise<void> {
    await this.#run(SCRIPTS.maintain, env, []);
  }

  /**
   * Changes after `cursor`, from the env's capped stream. Waits on a
   * connection of its own (`XREAD BLOCK`), or polls when the client cannot
   * make one.
   *
   * @param env The env.
   * @param cursor `streamId/n` from `snapshot` or an earlier call.
   * @param options The wait, at most one second, and a signal to end it.
   * @returns The changes and the next cursor.
   */
  async changes(
    env: string,
    cursor: string,
    options: { waitMs: number; signal?: AbortSignal },
  ): Promise<ChangeBatch> {
    const batch = await this.#readChanges(env, cursor);
    if (
      batch.changes.length > 0 || options.waitMs <= 0 || options.signal?.aborted
    ) return batch;
    await this.#waitForChanges(
      env,
      cursor.split("/")[0] as string,
      Math.min(options.waitMs, MAX_BLOCK_MS),
    );
    return await this.#readChanges(env, cursor);
  }

  async #readChanges(env: string, cursor: string): Promise<ChangeBatch> {
    const [streamId, count] = cursor.split("/");
    const known = Number(count);
    if (!streamId || !Number.isInteger(known)) {
      throw new ChangeLogGapError(env, cursor);
    }
    const [recorded, entries] = await this.#run(
      SCRIPTS.readChanges,
      env,
      [streamId, CHANGES_PER_READ],
    ) as [number, [string, string[]][]];
    if (entries.length === 0) {
      // Nothing after us: unless changes were recorded that we never saw
      // (they were trimmed, or Redis lost the log and started again).
      if (Number(recorded) !== known) throw new ChangeLogGapError(env, cursor);
      return { changes: [], cursor };
    }
    const changes: Change[] = [];
    let expected = known + 1;
    let last = cursor;
    for (const [id, flat] of entries) {
      const fields: Record<string, string> = {};
      for (let i = 0; i < flat.length; i += 2) {
        fields[flat[i] as string] = flat[i + 1] as string;
      }
      if (Number(fields.n) !== expected++) {
        throw new ChangeLogGapError(env, cursor);
      }
      last = `${id}/${fields.n}`;
      const instance = parseEntry(
        fields.i ?? "",
        fields.s ?? "",
        env,
        fields.v ?? "",
        Number(fields.x),
      );
      if (!instance) continue;
      changes.push({
        type: fields.e === "leave"
          ? "leave"
          : fields.e === "update"
          ? "update"
          : "join",
        reason: fields.r as Change["reason"],
        instance,
      });
    }
    return { changes, cursor: last };
  }

  async #waitForChanges(
    env: string,
    streamId: string,
    waitMs: number,
  ): Promise<void> {
    if (!this.#newConnection || this.#closed) {
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(waitMs, 100))
      );
      return;
    }
    try {
      this.#blocking ??= this.#newConnection();
      // A connection that failed to open is not kept: the next wait retries.
      this.#blocking.catch(() => this.#blocking = undefined);
      const blocking = await this.#blocking;
      await blocking.call(
        "XREAD",
        "BLOCK",
        waitMs,
        "STREAMS",
        `${this.#base(env)}events`,
        streamId,
      );
    } catch {
      // The caller reads again either way; a broken connection shows there.
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(waitMs, 100))
      );
    }
  }

  /**
   * Publishes a message with `PUBLISH`.
   *
   * @param env The env.
   * @param channel The channel.
   * @param payload The message.
   * @returns How many subscribers Redis delivered it to.
   */
  async publish(
    env: string,
    channel: string,
    payload: string,
  ): Promise<number> {
    return Number(
      await this.client.call(
        "PUBLISH",
        `${this.#base(env)}msg:${channel}`,
        payload,
      ),
    );
  }

  /**
   * Subscribes on a connection of its own, which resubscribes by itself
   * after a reconnect.
   *
   * @param env The env.
   * @param channel The channel.
   * @param handler Called with each payload.
   * @returns A function that unsubscribes.
   * @throws {Error} When the client cannot make another connection.
   */
  async subscribe(
    env: string,
    channel: string,
    handler: (payload: string) => void,
  ): Promise<() => Promise<void>> {
    const newConnection = this.#newConnection;
    if (this.#closed) throw new Error("Cannot subscribe: the driver is closed");
    if (!newConnection) {
      throw new Error(
        "Cannot subscribe: the Redis client given to RedisDriver has no duplicate(); pass an ioredis client",
      );
    }
    this.#subscriber ??= newConnection().then((subscriber) => {
      subscriber.on("message", (name: string, payload: string) => {
        for (const wanted of [...this.#handlers.get(name) ?? []]) {
          wanted(payload);
        }
      });
      return subscriber;
    });
    this.#subscriber.catch(() => this.#subscriber = undefined);
    const subscriber = await this.#subscriber;
    const name = `${this.#base(env)}msg:${channel}`;
    let handlers = this.#handlers.get(name);
    if (!handlers) {
      this.#handlers.set(name, handlers = new Set());
      await subscriber.subscribe(name);
    }
    const wrapped = (payload: string) => handler(payload);
    handlers.add(wrapped);
    return async () => {
      handlers.delete(wrapped);
      if (handlers.size === 0 && this.#handlers.get(name) === handlers) {
        this.#handlers.delete(name);
        await subscriber.unsubscribe(name).catch(() => {});
      }
    };
  }

  async #collect(
    env: string,
    services: string[],
    reads: Promise<[Record<string, string>, string[]][]>,
    now: number,
  ): Promise<Instance[]> {
    const instances: Instance[] = [];
    for (const [i, [values, expiries]] of (await reads).entries()) {
      for (let k = 0; k < expiries.length; k += 2) {
        const id = expiries[k] as string;
        const expiresAt = Number(expiries[k + 1]);
        const value = values[id];
        if (value === undefined || expiresAt <= now) continue;
        const instance = parseEntry(
          id,
          services[i] as string,
          env,
          value.slice(value.indexOf("\n") + 1),
          expiresAt,
        );
        if (instance) instances.push(instance);
      }
    }
    return instances.sort((a, b) => a.seq - b.seq);
  }

  /** Reads services' hashes and expiry sets, pipelined, as one promise. */
  #read(
    env: string,
    services: string[],
  ): Promise<[Record<string, string>, string[]][]> {
    const base = this.#base(env);
    const reads = Promise.all(services.map((service) =>
      Promise.all([
        this.client.call("HGETALL", `${base}i:${service}`).then(asRecord),
        this.client.call("ZRANGE", `${base}x:${service}`, 0, -1, "WITHSCORES")
          .then(asPairs),
      ])
    ));
    // If the script before them fails, nobody awaits these; a failure of
    // theirs must not go unhandled.
    reads.catch(() => {});
    return reads;
  }

  /**
   * Lists services with live instances in the env.
   *
   * @param env The env.
   * @returns Sorted names.
   */
  async services(env: string): Promise<string[]> {
    const [, , ...names] = await this.#run(SCRIPTS.maintain, env, []) as [
      number,
      string,
      ...string[],
    ];
    return names.sort();
  }

  /** Disconnects the client if this driver created it. */
  async close(): Promise<void> {
    this.#closed = true;
    const sides = [this.#blocking, this.#subscriber];
    this.#blocking = this.#subscriber = undefined;
    this.#handlers.clear();
    for (const side of sides) {
      const client = await side?.catch(() => undefined);
      if (client) await closeClient(client);
    }
    const owned = OWNED_CLIENTS.get(this.client);
    if (owned) await closeClient(owned);
  }

  #upsert(
    registration: Registration,
    reason: "registered" | "reregistered",
  ): Promise<UpsertReply> {
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
      reason,
      registration.status,
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
      const message = String((error as Error)?.message);
      if (message.startsWith("NOSCRIPT")) {
        return await this.client.call("EVAL", script.source, 1, base, ...args);
      }
      // A command that timed out still waits in the client's queue for a
      // reply a stalled link may never bring; on a connection we own, start
      // over, so commands cannot pile up behind it.
      const owned = OWNED_CLIENTS.get(this.client);
      if (owned && /timed? ?out/i.test(message) && owned.status === "ready") {
        log.warn(
          "A command timed out; reconnecting to drop what waits behind it",
        );
        owned.disconnect(true);
      }
      throw error;
    }
  }
}

/** Parses `seq\nregisteredAt\nttl\nstatus\njson` (a value without its owner line); a foreign value is skipped. */
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
    const [seq, registeredAt, ttl, status] = header;
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
      status: status === "unhealthy" ? "unhealthy" : "healthy",
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

/** Opens an extra connection; one that cannot open is closed, not left retrying. */
async function connectSide(side: IoRedisClient): Promise<IoRedisClient> {
  try {
    if (side.status === "wait") await side.connect();
    return side;
  } catch (error) {
    await closeClient(side);
    throw error;
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
