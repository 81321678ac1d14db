/**
 * The Redis driver: one registry shared by every process that talks to the
 * same Redis (standalone, Sentinel or Cluster).
 *
 * - Expiry is judged by Redis's clock (`TIME` inside Lua), never a client's.
 * - Every mutation is one Lua script; a heartbeat is one `EVALSHA` round
 *   trip (falling back to `EVAL` when the script cache was lost).
 * - A heartbeat carries the whole registration and the seq it last held, so
 *   it re-creates an entry Redis lost (`FLUSHALL`, a restart without
 *   persistence, a key deleted by hand), under the same seq while its lease
 *   still runs.
 * - Listings are read-only scripts (`EVALSHA_RO`): they write nothing, run
 *   on a Redis at `maxmemory`, and can be served by replicas.
 * - Expired entries are purged by whichever process holds the env's purge
 *   token, so the cost stays the same however many processes watch.
 * - An entry that fell due while a client could not reach Redis (which the
 *   client reports on its next call) is graced once, for one ttl after the
 *   outage ended, before the purge removes it; it is never listed while
 *   expired. So is one a Redis process holds from before the first call it
 *   answered for the env: loaded from disk by a restart, or replicated to a
 *   replica that a failover promoted while the old master took more beats.
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

import { randomUUID } from "node:crypto";
import { Cluster } from "ioredis";
import type {
  BackendStatus,
  ChangeBatch,
  Driver,
  HeartbeatResult,
  ListQuery,
  Registration,
  RegistrationKey,
  Snapshot,
} from "../../contract/driver.ts";
import { instanceOf } from "../../contract/driver.ts";
import { AlreadyRegisteredError } from "../../errors.ts";
import type { Instance } from "../../instance.ts";
import { encodeBody, readService, STATUS_CODES } from "./_codec.ts";
import {
  type DoubtfulLapse,
  type ListingRead,
  settledListing,
} from "../../contract/settled_listing.ts";
import { markOwned, RedisCalls, SCRIPTS, withoutArguments } from "./_calls.ts";
import { ChangeLogReader } from "./_change_log_reader.ts";
import { Subscriptions } from "./_subscriptions.ts";
import {
  closeClient,
  connectClient,
  connectSide,
  createClient,
  guardClusterAsking,
  type IoRedisClient,
  watchConnection,
} from "./connect.ts";
import {
  describeTarget,
  type RedisClient,
  type RedisConnectOptions,
  type RedisDriverOptions,
} from "./options.ts";
import { PurgeOffers } from "./_purge_offers.ts";

export {
  describeTarget,
  redactUrl,
  type RedisClient,
  type RedisConnectOptions,
  type RedisDriverOptions,
} from "./options.ts";

/** How long the subscriber connection may take to open. */
const SIDE_CONNECT_TIMEOUT_MS = 5_000;

/**
 * How many purge calls a registration makes over the service its id's
 * lapsed entry sits in before it gives up (each reads a bounded piece).
 */
const MAX_MOVED_SCANS = 1_000;
/** The most calls one repair makes (each reads a bounded piece). */
const MAX_REPAIR_CALLS = 100_000;
/** How long a won purge token keeps everyone else from purging the env. */
const PURGE_TOKEN_MS = 250;
/**
 * How long after a service falls due a process other than the env's purger
 * checks that it was purged (taking over if not): the purger's own call
 * and a pass over a big service fit in it, and a crash is still reported
 * well within a second of its lease's end.
 */
const PURGE_FOLLOWER_DELAY_MS = 250;
/** The bounds of the wait until purging is next worth trying. */
const MIN_PURGE_WAIT_MS = 10;
const MAX_PURGE_WAIT_MS = 5_000;

type UpsertReply = [
  kind: "refreshed" | "created" | "restored" | "conflict" | "moved" | "body",
  expiresAt: number | string,
  now: number,
  slot?: number,
  seq?: string | null,
  registeredAt?: string | null,
  termHeld?: number,
];

/** What this owner last held, sent with each beat so a lost entry is restored. */
interface HeldLease {
  seq: number;
  registeredAt: number;
  expiresAt: number;
  slot: number;
}

/**
 * How long until purging is next worth trying. The env's purger comes when
 * the next service falls due; the others come after it should have purged
 * (and after a token another holds lapses), a little apart, so they check
 * its work rather than race it, and take over if it is gone.
 */
function purgeWait(
  isPurger: boolean,
  untilDue: number,
  tokenTtl: number,
): number {
  // The purger waits out a token an offer holds (it scans once and lets
  // go); the others a moment more.
  const wait = isPurger
    ? Math.max(untilDue, tokenTtl)
    : Math.max(untilDue, tokenTtl) + PURGE_FOLLOWER_DELAY_MS +
      Math.random() * 50;
  return Math.min(MAX_PURGE_WAIT_MS, Math.max(MIN_PURGE_WAIT_MS, wait));
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
  readonly #calls: RedisCalls;
  readonly #changeLog: ChangeLogReader;
  readonly #subscriptions: Subscriptions;
  /** The static part of each registration, serialized once, not per beat. */
  readonly #tails = new WeakMap<Registration, string>();
  readonly #leases = new WeakMap<Registration, HeldLease>();
  /** Makes the subscriber connection (change waits and `subscribe`). */
  #newConnection: (() => Promise<IoRedisClient>) | undefined;
  #closed = false;
  #owned: IoRedisClient[] = [];
  readonly #purgeOffers = new PurgeOffers();
  /** Who this driver is to an env's purge token. */
  readonly #purgeHolder = randomUUID();
  readonly #background = new Set<Promise<unknown>>();

  /**
   * Wraps a client you already have; closing the driver leaves it open.
   *
   * @param client A connected (or connecting) ioredis `Redis` or `Cluster`.
   * @param options The key prefix, and a client for listings.
   */
  constructor(client: RedisClient, options: RedisDriverOptions = {}) {
    this.client = client;
    const calls = this.#calls = new RedisCalls(
      client,
      options.readClient ?? client,
    );
    // Once closing, no new side connection: waits poll, subscribing fails.
    const connector = () => this.#closed ? undefined : this.#newConnection;
    this.#subscriptions = new Subscriptions(connector);
    this.#changeLog = new ChangeLogReader({
      calls,
      base: (env) => this.#base(env),
      subscriptions: () => connector() && this.#subscriptions,
      purgeHolder: this.#purgeHolder,
    });
    guardClusterAsking(client as IoRedisClient);
    this.prefix = options.prefix ?? "roster:";
    if (typeof client.duplicate === "function") {
      this.#newConnection = () =>
        connectSide(
          client.duplicate!() as IoRedisClient,
          SIDE_CONNECT_TIMEOUT_MS,
        );
    }
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
    const client = await connectClient(options);
    let reads: IoRedisClient | undefined;
    if (options.replicaReads && options.sentinels?.length) {
      try {
        reads = await connectClient(options, "replica");
      } catch (error) {
        await closeClient(client);
        throw error;
      }
    }
    markOwned(client);
    const driver = new RedisDriver(client, {
      prefix: options.prefix,
      readClient: reads,
    });
    driver.#owned = reads ? [client, reads] : [client];
    driver.#newConnection = () => {
      const side = createClient(options);
      watchConnection(side, describeTarget(options));
      return connectSide(
        side,
        options.connectTimeout ?? SIDE_CONNECT_TIMEOUT_MS,
      );
    };
    return driver;
  }

  /**
   * Registers, or refreshes an entry this owner holds.
   *
   * @param registration The registration.
   * @returns The stored instance.
   * @throws {AlreadyRegisteredError} When another live owner holds the id.
   */
  async register(registration: Registration): Promise<Instance> {
    return (await this.#upsert(registration, "r")).instance;
  }

  /**
   * One heartbeat: one `EVALSHA`.
   *
   * @param registration The registration to refresh or re-create.
   * @returns The instance and whether it was re-created with a new seq.
   * @throws {AlreadyRegisteredError} When another live owner holds the id.
   */
  async heartbeat(registration: Registration): Promise<HeartbeatResult> {
    return await this.#upsert(registration, "R");
  }

  async #upsert(
    registration: Registration,
    reason: "r" | "R",
  ): Promise<HeartbeatResult> {
    const { env, service, id } = registration;
    let tail = this.#tails.get(registration);
    if (tail === undefined) {
      tail = encodeBody(registration);
      this.#tails.set(registration, tail);
    }
    const lease = this.#leases.get(registration);
    // A beat leaves the body out: the script asks for it (`body`) only when
    // the record must be written again.
    let withBody = reason === "r" || lease === undefined;
    let purgedMoved = false;
    // What it saw of an outage, said once for every try of this beat (the
    // first try's answer clears it).
    const since = this.#calls.answeredSince(beatsOf(env));
    while (true) {
      const reply = await this.#calls.write(
        SCRIPTS.upsert,
        beatsOf(env),
        this.#keys(env, service),
        upsertArgs(registration, reason, lease, since, withBody ? tail : ""),
      ) as UpsertReply;
      const [kind, expiresAt, now, slot, seq, registeredAt, termHeld] = reply;
      this.#calls.learnClock(now);
      if (kind === "conflict") throw new AlreadyRegisteredError(id, env);
      if (kind === "body") {
        if (withBody) throw new Error("Redis asked twice for the record");
        withBody = true;
        continue;
      }
      if (kind === "moved") {
        // The id's lapsed entry sits under another service, whose keys this
        // script could not name: purge that service, then try again once
        // (a live entry there is a conflict).
        if (purgedMoved) throw new AlreadyRegisteredError(id, env);
        await this.#scanMoved(env, String(expiresAt));
        purgedMoved = true;
        continue;
      }
      const times = kind === "refreshed" && lease && !seq
        ? { ...lease, expiresAt: Number(expiresAt) }
        : {
          seq: Number(seq ?? lease?.seq),
          registeredAt: Number(registeredAt ?? lease?.registeredAt ?? now),
          expiresAt: Number(expiresAt),
        };
      this.#leases.set(registration, {
        seq: times.seq,
        registeredAt: times.registeredAt,
        expiresAt: times.expiresAt,
        slot: Number(slot),
      });
      this.#offerPurge(env, registration.ttl);
      return {
        instance: instanceOf(registration, times),
        reregistered: kind === "created" && reason === "R",
        termHeld: termHeld === 1 ? true : termHeld === 0 ? false : undefined,
      };
    }
  }

  /**
   * Purges the service another service's lapsed entry of an id sits under:
   * one scan call covers a bounded piece of it, so as many as its pass
   * needs, within a bound.
   */
  async #scanMoved(env: string, service: string): Promise<void> {
    let unfinished = true;
    for (let scans = 0; unfinished && scans < MAX_MOVED_SCANS; scans++) {
      ({ unfinished } = await this.#scan(env, [service]));
    }
  }

  /**
   * Where no process watches, beats keep expiry moving: now and then a
   * beat offers to purge (the token lets one process per env do it), less
   * often while offers find nothing to do (see PurgeOffers).
   */
  #offerPurge(env: string, ttl: number): void {
    if (!this.#purgeOffers.due(env, ttl)) return;
    this.#inBackground(async () => {
      const { purged } = await this.#purge(env, false);
      this.#purgeOffers.offered(env, ttl, purged);
    });
  }

  /**
   * Removes the entry if `key.owner` holds it.
   *
   * @param key The registration and its owner.
   * @returns Whether it was removed.
   */
  async deregister(key: RegistrationKey): Promise<boolean> {
    // A registration that was given up is not restored by a later beat.
    this.#leases.delete(key as Registration);
    const removed = await this.#calls.write(
      SCRIPTS.deregister,
      key.env,
      this.#keys(key.env, key.service),
      [key.owner, key.id, key.service],
    );
    return removed === 1;
  }

  /**
   * Lists live instances, oldest first: a read-only script for Redis's time,
   * then each named service's packed records and beat slots with plain
   * `GET`s, pipelined on the same connection. Listing every service first
   * asks which services exist.
   *
   * @param query The env and services.
   * @returns The live instances.
   */
  async list(query: ListQuery): Promise<Instance[]> {
    const env = query.env;
    const services = query.services?.length
      ? [...new Set(query.services)]
      : await this.#serviceNames(env);
    if (services.length === 0) return [];
    const read = async (client: RedisClient) => {
      const [[now, entries], strings] = await this.#readStrings(
        client,
        [`${this.#base(env)}ids`],
        env,
        services,
      );
      const [instances, doubtful] = this.#instances(
        env,
        services,
        strings,
        now as number,
      );
      return { entries: entries as number, strings, instances, doubtful };
    };
    const listed = await this.#readSettled(
      env,
      services,
      read,
      this.#calls.reads,
    );
    this.#repairIfLost(
      env,
      services,
      listed.strings,
      listed.entries,
      listed.instances.length,
    );
    return listed.instances;
  }

  /**
   * The live instances of every service, and the change-log position they
   * correspond to: the position is read first, the services' strings after
   * it, so every change after the position is in them or comes after. Read
   * from the master, so the strings are never older than the position.
   *
   * @param env The env.
   * @returns Instances and cursor.
   */
  async snapshot(env: string): Promise<Snapshot> {
    const base = this.#base(env);
    let services = await this.#serviceNames(env);
    const read = async (client: RedisClient) => {
      for (let attempt = 0;; attempt++) {
        const [state, strings] = await this.#readStrings(
          client,
          [`${base}ids`, `${base}meta`, `${base}log`],
          env,
          services,
        );
        const [now, entries, epoch, count, members, stale] = state as [
          number,
          number,
          string,
          number,
          string,
          number,
        ];
        if (stale === 1 && attempt < 5) {
          // Redis restarted since the epoch began: begin the next one now,
          // so this snapshot's cursor is not cut off by the next change.
          await this.#calls.write(
            SCRIPTS.newEpoch,
            env,
            [`${base}meta`, `${base}log`],
            [],
          );
          continue;
        }
        const known = new Set(services);
        const missing = members.split(",").filter((service) =>
          service && !known.has(service)
        );
        // A service created since the names were read: read again with it,
        // so no join before the cursor is left out.
        if (missing.length > 0 && attempt < 5) {
          services = [...services, ...missing];
          continue;
        }
        const [instances, doubtful] = this.#instances(
          env,
          services,
          strings,
          now,
        );
        return { entries, strings, instances, doubtful, epoch, count };
      }
    };
    // From the master, so the strings are never older than the position.
    const taken = await this.#readSettled(env, services, read, this.client);
    this.#repairIfLost(
      env,
      services,
      taken.strings,
      taken.entries,
      taken.instances.length,
    );
    return {
      instances: taken.instances,
      cursor: `${taken.epoch}:${taken.count}`,
    };
  }

  /**
   * Reads with `read` and, when the answer holds lapses no beat came after
   * (a write pause or a lagging replica looks the same as crashes), reads
   * again from the master once a write lands, and after a pause while the
   * beats it held back land (a few short reads).
   */
  async #readSettled<T extends ListingRead>(
    env: string,
    services: string[],
    read: (client: RedisClient) => Promise<T>,
    first: RedisClient,
  ): Promise<T> {
    return await settledListing(
      () => read(first),
      () => read(this.client),
      () => this.#confirmWrites(env, services),
    );
  }

  /**
   * The state script, then `GET`s of each service's records and slots,
   * sent together on one connection so Redis runs them in that order.
   */
  async #readStrings(
    client: RedisClient,
    stateKeys: string[],
    env: string,
    services: string[],
  ): Promise<[unknown[], string[]]> {
    const state = this.#calls.call(client, SCRIPTS.readState, stateKeys, []);
    const gets = this.#listKeys(env, services).map((key) =>
      this.#calls.command(client, "GET", key)
    );
    // If the state script fails first, nobody awaits these yet.
    const strings = Promise.all(gets);
    strings.catch(() => {});
    const values = await state as unknown[];
    this.#calls.learnClock(values[0]);
    try {
      return [values, (await strings).map((value) => String(value ?? ""))];
    } catch (error) {
      throw withoutArguments(error);
    }
  }

  /**
   * After data loss a listing may find the id index or the services list
   * short of what the slots show, or a service's records gone: it asks, in
   * the background, for what can be rebuilt from what is left. A listing
   * that finds nothing lost writes nothing.
   */
  #repairIfLost(
    env: string,
    services: string[],
    strings: string[],
    entries: number,
    live: number,
  ): void {
    const recordsLost = services.some((_, i) =>
      !strings[2 * i] && /[1-9]/.test(strings[2 * i + 1] ?? "")
    );
    if (recordsLost) this.#inBackground(() => this.#scan(env, services));
    if (entries < live) this.#inBackground(() => this.#repair(env, services));
  }

  /**
   * Puts back the id index from the named services' records, and the
   * services list from the id index, a bounded piece per call (see
   * REPAIR).
   */
  async #repair(env: string, services: string[]): Promise<void> {
    const keys = [
      `${this.#base(env)}ids`,
      `${this.#base(env)}meta`,
      ...this.#listKeys(env, services),
    ];
    let cursor = "0";
    let offsets = services.map(() => "0");
    // Each call moves on; a bound all the same, should compactions keep
    // sending a service back to its start.
    for (let call = 0; call < MAX_REPAIR_CALLS; call++) {
      if (cursor === "" && offsets.every((offset) => offset === "-1")) return;
      const [next, ...rest] = await this.#calls.write(
        SCRIPTS.repair,
        env,
        keys,
        [
          cursor,
          ...services,
          ...offsets,
        ],
      ) as (string | number)[];
      cursor = String(next);
      offsets = rest.map(String);
    }
  }

  /**
   * Lists services with live instances in the env.
   *
   * @param env The env.
   * @returns Sorted names.
   */
  async services(env: string): Promise<string[]> {
    const names = await this.#serviceNames(env);
    if (names.length === 0) return [];
    const live = await this.#calls.read(
      SCRIPTS.liveServices,
      names.map((service) => `${this.#base(env)}b:${service}`),
      names,
    ) as string[];
    return live.sort();
  }

  /**
   * Lists the envs with live instances: each env's `meta` key found by a
   * `SCAN` (of every master, on a Cluster), then its live services read.
   *
   * @returns Sorted names.
   */
  async envs(): Promise<string[]> {
    const client = this.client;
    const nodes: RedisClient[] = client instanceof Cluster
      ? client.nodes("master")
      : [client];
    // A prefix is matched literally: its glob characters escaped.
    const pattern = `${this.prefix.replace(/[*?[\]\\]/g, "\\$&")}{*}:meta`;
    const found = new Set<string>();
    for (const node of nodes) {
      let cursor = "0";
      do {
        const [next, keys] = await this.#calls.command(
          node,
          "SCAN",
          cursor,
          "MATCH",
          pattern,
          "COUNT",
          1000,
        ) as [string, string[]];
        cursor = next;
        for (const key of keys) {
          found.add(key.slice(this.prefix.length + 1, -"}:meta".length));
        }
      } while (cursor !== "0");
    }
    const live = await Promise.all(
      [...found].map(async (env) =>
        (await this.services(env)).length > 0 ? env : undefined
      ),
    );
    return live.filter((env) => env !== undefined).sort();
  }

  /**
   * Describes the server and an env: the Redis version, its clock, the
   * env's keys and change-log length.
   *
   * @param env The env.
   * @returns What Redis says of itself and the env.
   */
  async status(env: string): Promise<BackendStatus> {
    const base = this.#base(env);
    const [info, time, services] = await Promise.all([
      this.#calls.command(this.client, "INFO", "server") as Promise<string>,
      this.#calls.command(this.client, "TIME") as Promise<[string, string]>,
      this.#serviceNames(env),
    ]);
    const keys = [
      ...["ids", "meta", "log", "purge"].map((key) => base + key),
      ...this.#listKeys(env, services),
    ];
    // One EXISTS over keys that share the env's hash tag, so one node.
    const [entries, changeLogLength] = await Promise.all([
      this.#calls.command(this.client, "EXISTS", ...keys) as Promise<number>,
      this.#calls.command(this.client, "XLEN", `${base}log`) as Promise<number>,
    ]);
    const version = /redis_version:([^\r\n]+)/.exec(String(info))?.[1];
    const mode = /redis_mode:([^\r\n]+)/.exec(String(info))?.[1];
    const { host, port } =
      (this.client as { options?: { host?: string; port?: number } })
        .options ?? {};
    return {
      server: `redis ${version ?? "(version unknown)"}${
        mode && mode !== "standalone" ? ` (${mode})` : ""
      }`,
      target: host ? `${host}:${port ?? 6379}` : "(the client given)",
      time: Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000),
      entries: Number(entries),
      changeLogLength: Number(changeLogLength),
    };
  }

  /**
   * Removes the env's expired entries, if this process wins the env's purge
   * token; otherwise returns at once, since another process purges. Sends
   * nothing when a read of the env's changes a moment ago found no service
   * due.
   *
   * @param env The env.
   * @returns When purging is next worth trying, in ms: for the env's
   *   purger, when the next entry falls due; for everyone else, a moment
   *   after that, or after the token another process holds lapses (so a
   *   purger that died is replaced within a token's lifetime and that
   *   moment).
   */
  async purge(env: string): Promise<number> {
    return (await this.#purge(env, true)).wait;
  }

  /**
   * Purges as `purge` does; `onSchedule` is false for a heartbeat's offer,
   * which comes at no set time and so is never recorded as the purger.
   * Also says whether it scanned anything.
   */
  async #purge(
    env: string,
    onSchedule: boolean,
  ): Promise<{ wait: number; purged: boolean }> {
    this.#purgeOffers.purging(env);
    const base = this.#base(env);
    // One report for both calls: the scan judges lapses by what the first
    // call waited out too.
    const since = this.#calls.answeredSince(env);
    const hinted = this.#purgeHint(env, since);
    if (hinted !== undefined) return { wait: hinted, purged: false };
    const [now, won, nextDue, tokenTtl, purger, ...due] = await this.#calls
      .write(
        SCRIPTS.purgeScan,
        env,
        [`${base}purge`, `${base}meta`],
        [PURGE_TOKEN_MS, since, this.#purgeHolder, onSchedule ? 1 : 0],
      ) as [number, number, number, number, number, ...string[]];
    this.#calls.learnClock(now);
    let next = nextDue;
    const purged = won === 1 && due.length > 0;
    if (purged) {
      const scanned = (await this.#scan(env, due, since)).next;
      if (scanned >= 0 && (next < 0 || scanned < next)) next = scanned;
    }
    const wait = purgeWait(
      won === 1 || purger === 1,
      next < 0 ? MAX_PURGE_WAIT_MS : next - now,
      tokenTtl,
    );
    return { wait, purged };
  }

  /**
   * When purging is next worth trying, as a change read a moment ago found
   * it: until a service is due there is nothing to purge, and nothing to
   * send. Undefined when a call must go (one is due, no read was that
   * recent, or this client has an outage to report).
   */
  #purgeHint(
    env: string,
    since = this.#calls.answeredSince(env),
  ): number | undefined {
    const read = this.#changeLog.purgeDue(env);
    if (
      !read || (read.nextDue >= 0 && read.nextDue <= read.now) ||
      since.startsWith("f")
    ) return undefined;
    const untilDue = read.nextDue < 0
      ? MAX_PURGE_WAIT_MS
      : read.nextDue - read.now;
    return purgeWait(read.purger, untilDue, 0);
  }

  /**
   * Scans services for lapsed entries, one bounded piece; returns when the
   * next falls due, and whether a pass goes on (call again).
   */
  async #scan(
    env: string,
    services: string[],
    since = this.#calls.answeredSince(env),
  ): Promise<{ next: number; unfinished: boolean }> {
    const base = this.#base(env);
    const [next, unfinished] = await this.#calls.write(
      SCRIPTS.purge,
      env,
      [
        `${base}ids`,
        `${base}meta`,
        `${base}log`,
        ...services.flatMap((service) => [
          `${base}p:${service}`,
          `${base}b:${service}`,
          `${base}n:${service}`,
        ]),
      ],
      [since, ...services],
    ) as [number, number];
    return { next: Number(next), unfinished: unfinished === 1 };
  }

  /**
   * Grants leadership of its service to `registration`, if it is the oldest
   * live, healthy instance and the last leader's lease is over; the term
   * comes from Redis.
   *
   * @param registration The registration that asks to lead.
   * @returns The term, or undefined when refused.
   */
  async campaign(registration: Registration): Promise<number | undefined> {
    const keys = this.#keys(registration.env, registration.service);
    // A big service's slots are read a bounded piece per call; the slot to
    // go on from only rises, so this ends.
    for (let from = "0";;) {
      const [answer, value] = await this.#calls.write(
        SCRIPTS.campaign,
        registration.env,
        keys,
        [registration.owner, registration.id, registration.service, from],
      ) as [number, (string | number)?];
      if (answer !== 2) return answer === 1 ? Number(value) : undefined;
      from = String(value);
    }
  }

  /**
   * Ends the leadership `term`, if `registration` still holds it.
   *
   * @param registration The leader's registration.
   * @param term Its term.
   */
  async resign(registration: Registration, term: number): Promise<void> {
    const base = this.#base(registration.env);
    await this.#calls.write(
      SCRIPTS.resign,
      registration.env,
      [`${base}ids`, `${base}meta`],
      [registration.owner, registration.id, registration.service, String(term)],
    );
  }

  /**
   * Changes after `cursor`, from the env's capped stream. Waits for the
   * env's messages on the driver's Pub/Sub connection (the calls that
   * record changes, and purges, publish them), or polls when the client
   * cannot make one.
   *
   * @param env The env.
   * @param cursor `epoch:n` from `snapshot` or an earlier call.
   * @param options The wait, at most five seconds, and a signal to end it.
   * @returns The changes and the next cursor, and when purging is next
   *   worth trying when the read said so.
   * @throws {ChangeLogGapError} When changes after the cursor were lost.
   */
  async changes(
    env: string,
    cursor: string,
    options: { waitMs: number; signal?: AbortSignal },
  ): Promise<ChangeBatch> {
    const batch = await this.#changeLog.changes(env, cursor, options);
    // The read (or the purge message that ended the wait) said when
    // a service is next due: the caller's purge need not come before.
    const purgeIn = this.#purgeHint(env);
    return purgeIn === undefined ? batch : { ...batch, purgeIn };
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
      await this.#calls.command(
        this.client,
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
    if (this.#closed) throw new Error("Cannot subscribe: the driver is closed");
    return await this.#subscriptions.subscribe(
      `${this.#base(env)}msg:${channel}`,
      handler,
    );
  }

  /** Waits for background purges, then disconnects the clients this driver created. */
  async close(): Promise<void> {
    this.#closed = true;
    // Work a call in flight started after this began is waited for too.
    while (this.#background.size > 0) {
      await Promise.allSettled([...this.#background]);
    }
    this.#changeLog.close();
    await this.#subscriptions.close();
    for (const client of this.#owned) await closeClient(client);
    this.#owned = [];
  }

  /** The live instances, oldest first, and the doubtful lapses. */
  #instances(
    env: string,
    services: string[],
    strings: string[],
    now: number,
  ): [Instance[], DoubtfulLapse[]] {
    const found = new Map<string, Instance>();
    const doubtful: DoubtfulLapse[] = [];
    services.forEach((service, i) => {
      doubtful.push(...readService(
        found,
        env,
        service,
        strings[2 * i] ?? "",
        strings[2 * i + 1] ?? "",
        now,
      ));
    });
    return [[...found.values()].sort((a, b) => a.seq - b.seq), doubtful];
  }

  /**
   * Waits until a write lands on the master: a tiny `SET`, in a script that
   * names every key the services' heartbeats touch, so that whatever holds
   * those beats back (a write pause, a Cluster slot half moved) holds it
   * back too. Throws when it does not land within the command timeout,
   * rather than let a listing answer short.
   *
   * @returns How long it took to land, in ms.
   */
  async #confirmWrites(env: string, services: string[]): Promise<number> {
    const sent = performance.now();
    const base = this.#base(env);
    try {
      await this.#calls.call(this.client, SCRIPTS.probe, [
        `${base}probe`,
        `${base}ids`,
        `${base}meta`,
        `${base}log`,
        ...this.#listKeys(env, services),
      ], []);
    } catch (error) {
      this.#calls.noteFailure(this.client, error);
      throw new Error(
        `Cannot list env '${env}': instances lapsed with no heartbeat reaching Redis since, and a test write did not land (${
          (error as Error)?.message ?? error
        }); Redis may be paused for writes (a failover), so the answer would be short`,
        { cause: withoutArguments(error) },
      );
    }
    return performance.now() - sent;
  }

  /**
   * The env's services. An empty list beside a non-empty id index means the
   * list was lost with meta: it is rebuilt from the index first.
   */
  async #serviceNames(env: string): Promise<string[]> {
    const base = this.#base(env);
    const read = async () => {
      const names = await this.#calls.command(
        this.#calls.reads,
        "HGET",
        `${base}meta`,
        "svcs",
      );
      return typeof names === "string" ? names.split(",").filter(Boolean) : [];
    };
    try {
      const names = await read();
      if (names.length > 0) return names;
      if (
        Number(
          await this.#calls.command(this.#calls.reads, "HLEN", `${base}ids`),
        ) ===
          0
      ) return [];
    } catch (error) {
      throw withoutArguments(error);
    }
    // A write, but only after data loss; a listing still answers if it fails.
    await this.#repair(env, []).catch(() => {});
    return await read().catch(() => []);
  }

  /**
   * Runs work that no caller awaits, where `close()` waits for it. A closed
   * driver starts none: a beat or listing that lands while it closes would
   * otherwise leave work (and its timers) behind it.
   */
  #inBackground(start: () => Promise<unknown>): void {
    if (this.#closed) return;
    const tracked = start().catch(() => {}).finally(() =>
      this.#background.delete(tracked)
    );
    this.#background.add(tracked);
  }

  #base(env: string): string {
    return `${this.prefix}{${env}}:`;
  }

  /** What a write for one service touches: ids, meta, log, p:S, b:S. */
  #keys(env: string, service: string): string[] {
    const base = this.#base(env);
    return [
      `${base}ids`,
      `${base}meta`,
      `${base}log`,
      `${base}p:${service}`,
      `${base}b:${service}`,
    ];
  }

  /** p:S, b:S for each service. */
  #listKeys(env: string, services: string[]): string[] {
    const base = this.#base(env);
    return services.flatMap((service) => [
      `${base}p:${service}`,
      `${base}b:${service}`,
    ]);
  }
}

/** The upsert script's arguments for a registration or a beat. */
function upsertArgs(
  registration: Registration,
  reason: "r" | "R",
  lease: HeldLease | undefined,
  since: string,
  body: string,
): (string | number)[] {
  const { id, service } = registration;
  return [
    registration.owner,
    lease?.slot ?? "",
    lease ? String(lease.seq).padStart(16, "0") : "",
    registration.ttl,
    STATUS_CODES[registration.status],
    since,
    `${id}\t${service}\t${reason}\t${lease?.registeredAt ?? ""}\t${
      lease?.expiresAt ?? ""
    }`,
    registration.term ?? "",
    body,
  ];
}

// The contract's types this module's API names, so its documentation is
// complete on its own.
export type * from "../../contract/contract_types.ts";

/** The key of an env's beats' own outage record. */
function beatsOf(env: string): string {
  return `beats\t${env}`;
}
