/**
 * How the Redis driver sends its commands and scripts, and what it learns
 * from them: Redis's clock, and the outages this process saw (calls that
 * failed), which its next write to an env reports as evidence that entries
 * that fell due meanwhile lapsed in an outage, not a crash.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { Cluster, Redis } from "ioredis";
import { getLogger } from "@logtape/logtape";
import {
  CAMPAIGN,
  DEREGISTER,
  LIVE_SERVICES,
  NEW_EPOCH,
  PROBE,
  PURGE,
  PURGE_SCAN,
  READ_CHANGES,
  READ_STATE,
  REPAIR,
  RESIGN,
  UPSERT,
} from "./_scripts.ts";
import { explainCommandError, type IoRedisClient } from "./connect.ts";
import type { RedisClient } from "./options.ts";

const log = getLogger(["roster", "redis"]);

/** A clock offset this much below the best seen means Redis's clock went back. */
const CLOCK_JUMP_MS = 5_000;
/** How much later than twice its timeout a call may fail before this process counts as frozen. */
const FROZEN_SLACK_MS = 100;

/**
 * How long a call through a Cluster client may take in all, in ms. ioredis
 * times a command only once it is written to a node; a Cluster may hold it
 * in a queue through a failover or a slot refresh and never settle it
 * (ioredis issue 1604), which would leave a beat, a listing or a driver's
 * `close()` waiting for ever. Redirections and their retries fit well
 * within twice the command timeout and a second.
 */
function clusterCallLimit(client: RedisClient): number | undefined {
  if (!(client instanceof Cluster)) return undefined;
  const timeout = client.options.redisOptions?.commandTimeout;
  return timeout === undefined ? undefined : timeout * 2 + 1_000;
}

/** `work`, or a timeout error once a Cluster client's call outlasts its limit. */
function bounded<T>(client: RedisClient, work: Promise<T>): Promise<T> {
  const limit = clusterCallLimit(client);
  if (limit === undefined) return work;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `Command timed out: the Redis Cluster client did not settle it within ${limit}ms`,
          ),
        ),
      limit,
    );
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** A Lua script, by its source and the SHA1 `EVALSHA` names it by. */
export interface Script {
  source: string;
  sha: string;
  /** Run with `EVALSHA_RO` (it writes nothing; replicas may serve it). */
  readOnly: boolean;
}

function script(source: string, options: { readOnly?: boolean } = {}): Script {
  const sha = createHash("sha1").update(source).digest("hex");
  return { source, sha, readOnly: options.readOnly ?? false };
}

/** The driver's scripts. */
export const SCRIPTS = {
  upsert: script(UPSERT),
  deregister: script(DEREGISTER),
  purgeScan: script(PURGE_SCAN),
  purge: script(PURGE),
  repair: script(REPAIR),
  campaign: script(CAMPAIGN),
  resign: script(RESIGN),
  readState: script(READ_STATE, { readOnly: true }),
  newEpoch: script(NEW_EPOCH),
  liveServices: script(LIVE_SERVICES, { readOnly: true }),
  readChanges: script(READ_CHANGES, { readOnly: true }),
  probe: script(PROBE),
};

/** Clients that `RedisDriver.connect` created: their errors are explained, their stalls reconnected. */
const OWNED_CLIENTS = new WeakSet<RedisClient>();

/**
 * Marks a client as the driver's own.
 *
 * @param client A client `RedisDriver.connect` created.
 */
export function markOwned(client: IoRedisClient): void {
  OWNED_CLIENTS.add(client);
}

function ownedOf(client: RedisClient): IoRedisClient | undefined {
  return OWNED_CLIENTS.has(client) ? client as IoRedisClient : undefined;
}

/**
 * ioredis puts the command and its arguments on its errors; a heartbeat's
 * arguments include the owner token, so they never leave the driver.
 *
 * @param error What a call threw.
 * @returns The same error, its arguments removed.
 */
export function withoutArguments(error: unknown): unknown {
  if (error && typeof error === "object" && "command" in error) {
    const command = (error as { command?: { name?: unknown } }).command;
    (error as { command?: unknown }).command = { name: command?.name };
  }
  return error;
}

/** The one way the driver's commands reach Redis. */
export class RedisCalls {
  /** The client writes (and master reads) go through. */
  readonly client: RedisClient;
  /** The client listings go through: a replica's, or the same. */
  readonly reads: RedisClient;
  /** When a command last succeeded, by this process's monotonic clock. */
  #lastOkAt: number | undefined;
  /**
   * When a write last succeeded: an outage runs from then (reads may go on
   * while writes are paused).
   */
  #lastWriteOkAt: number | undefined;
  /** Redis's clock less this process's monotonic clock, from the last reply. */
  #offset: number | undefined;
  /**
   * Per env written to: when calls to Redis failed, from after the last
   * answer until the last failed attempt, not yet reported. Beats keep
   * their own (under the driver's beats key), cleared only by a beat that
   * got through: whatever else reported the outage first, the beat still
   * says it could not reach Redis until it was sent.
   */
  readonly #outages = new Map<
    string,
    { from: number; to: number } | undefined
  >();

  /**
   * @param client The client for writes.
   * @param reads The client for listings.
   */
  constructor(client: RedisClient, reads: RedisClient) {
    this.client = client;
    this.reads = reads;
  }

  /**
   * What this client saw of an outage, by Redis's clock, for a write to
   * carry: `f<from>:<to>:<sent>` while calls failed from its last answer
   * until its last failed attempt, and this call is the first since (it
   * could not beat until then), else `s<sent>` as this call is sent, so a
   * call that itself waits out a frozen Redis reports that.
   *
   * @param outageKey Whose outage: an env, or an env's beats.
   * @returns The argument, empty before Redis's clock is known.
   */
  answeredSince(outageKey: string): string {
    if (this.#offset === undefined) return "";
    const failed = this.#outages.get(outageKey);
    const sent = Math.round(performance.now() + this.#offset);
    return failed === undefined
      ? `s${sent}`
      : `f${Math.round(failed.from + this.#offset)}:${
        Math.round(failed.to + this.#offset)
      }:${sent}`;
  }

  /**
   * Redis's time now, as learned from replies: a lower bound, off by no
   * more than a reply's delay; undefined before any reply told it.
   *
   * @returns The time in ms.
   */
  redisNow(): number | undefined {
    return this.#offset === undefined
      ? undefined
      : performance.now() + this.#offset;
  }

  /**
   * Learns Redis's clock from a reply's `now`. A reply read late makes the
   * clock look behind, never ahead, so the largest offset seen is the
   * truest; one far below it means Redis's clock went back (a failover).
   *
   * @param now Redis's time in a reply.
   */
  learnClock(now: unknown): void {
    const value = Number(now);
    if (!Number.isFinite(value) || value <= 0) return;
    const offset = value - performance.now();
    if (
      this.#offset === undefined || offset > this.#offset ||
      offset < this.#offset - CLOCK_JUMP_MS
    ) this.#offset = offset;
  }

  /**
   * A script that writes. A client that could not reach Redis reports, with
   * its next write for each outage key, since when: the evidence on which
   * entries that fell due meanwhile are graced.
   *
   * @param script The script.
   * @param outageKey Whose outage the write reports.
   * @param keys Its keys.
   * @param args Its arguments.
   * @returns Its reply.
   */
  async write(
    script: Script,
    outageKey: string,
    keys: string[],
    args: (string | number)[],
  ): Promise<unknown> {
    if (!this.#outages.has(outageKey)) this.#outages.set(outageKey, undefined);
    const reporting = this.#outages.get(outageKey) !== undefined;
    const reply = await this.call(this.client, script, keys, args);
    this.#lastWriteOkAt = performance.now();
    if (reporting) this.#outages.set(outageKey, undefined);
    return reply;
  }

  /**
   * A read-only script on the listing client.
   *
   * @param script The script.
   * @param keys Its keys.
   * @param args Its arguments.
   * @returns Its reply.
   */
  read(script: Script, keys: string[], args: string[]): Promise<unknown> {
    return this.call(this.reads, script, keys, args);
  }

  /**
   * One plain command; a failure says why in the connection's words.
   *
   * @param client The client to send it on.
   * @param args The command and its arguments.
   * @returns Its reply.
   */
  async command(
    client: RedisClient,
    ...args: [string, ...(string | number)[]]
  ): Promise<unknown> {
    try {
      return await bounded(client, client.call(...args));
    } catch (error) {
      const owned = ownedOf(client);
      throw owned ? explainCommandError(owned, error) : error;
    }
  }

  /**
   * `EVALSHA`, and `EVAL` only when Redis lost its script cache.
   *
   * @param client The client to send it on.
   * @param script The script.
   * @param keys Its keys.
   * @param args Its arguments.
   * @returns Its reply.
   */
  async call(
    client: RedisClient,
    script: Script,
    keys: string[],
    args: (string | number)[],
  ): Promise<unknown> {
    const [bySha, bySource] = script.readOnly
      ? ["EVALSHA_RO", "EVAL_RO"]
      : ["EVALSHA", "EVAL"];
    const started = performance.now();
    try {
      let reply: unknown;
      try {
        reply = await bounded(
          client,
          client.call(bySha, script.sha, keys.length, ...keys, ...args),
        );
      } catch (error) {
        if (!String((error as Error)?.message).startsWith("NOSCRIPT")) {
          throw error;
        }
        reply = await bounded(
          client,
          client.call(bySource, script.source, keys.length, ...keys, ...args),
        );
      }
      this.#lastOkAt = performance.now();
      return reply;
    } catch (error) {
      this.noteFailure(client, error, started);
      const owned = ownedOf(client);
      throw withoutArguments(
        owned ? explainCommandError(owned, error) : error,
      );
    }
  }

  /**
   * Records a failed call as an outage, from when the call was sent: Redis
   * answered everything before it, so the outage began no earlier than
   * about then. (Not from the last write that landed: a process that
   * writes seldom, a watcher that purges every few seconds, would claim
   * those seconds, and a crash that lapsed in them would be graced.)
   * A call that timed out far later than its timeout says that this process
   * was not running (paused, SIGSTOPped), not that Redis was away: only
   * its timeout counts then, so a process frozen past its lease does not
   * claim its lapse as Redis's outage.
   *
   * @param client The client the call went on.
   * @param error What it threw.
   * @param started When it was sent, by `performance.now()`.
   */
  noteFailure(client: RedisClient, error: unknown, started?: number): void {
    const now = performance.now();
    const timeout = (client as { options?: { commandTimeout?: number } })
      .options?.commandTimeout;
    const frozen = started !== undefined && timeout !== undefined &&
      now - started > timeout * 2 + FROZEN_SLACK_MS;
    const lastOk = this.#lastWriteOkAt ?? this.#lastOkAt ?? now;
    const since = frozen ? now - timeout : Math.max(lastOk, started ?? lastOk);
    for (const [env, known] of this.#outages) {
      this.#outages.set(env, { from: known?.from ?? since, to: now });
    }
    // A command that timed out still waits in the client's queue for a
    // reply a stalled link may never bring; on a connection we own, start
    // over, so commands cannot pile up behind it. (Not a Cluster: that
    // would drop every node at once, and it redirects and retries itself.)
    const owned = ownedOf(client);
    const message = String((error as Error)?.message);
    if (
      owned instanceof Redis && /timed? ?out/i.test(message) &&
      owned.status === "ready"
    ) {
      log.warn(
        "A command timed out; reconnecting to drop what waits behind it",
      );
      owned.disconnect(true);
    }
    // A Cluster master that stopped answering may have been replaced by
    // its replica (a failover): ask for the slot map now rather than at
    // the next periodic refresh, so beats reach the new master soon.
    if (owned instanceof Cluster && /timed? ?out/i.test(message)) {
      owned.refreshSlotsCache();
    }
  }
}
