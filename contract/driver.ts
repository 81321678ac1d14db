/**
 * The contract between the registry and a backend. A driver is small: it
 * stores registrations with an expiry, refreshes them, removes them and lists
 * the live ones, keeps a change log, and grants leadership terms. Retries,
 * jitter, views, watches and elections live in the core. Messaging is an
 * optional capability: a backend without pub/sub leaves it out.
 *
 * The rules every driver keeps, each checked by the one conformance suite
 * (`testDriverConformance` in `@roster/roster/driver`):
 *
 * - **Expiry is the backend's.** An entry is live while its last accepted
 *   heartbeat plus its ttl is ahead of the backend's clock; nothing but a
 *   heartbeat moves that forward, and no listing ever shows an entry past
 *   it, purged or not.
 * - **Owners.** Only the owner token that registered an entry refreshes or
 *   removes it; another live owner gets `AlreadyRegisteredError`. Ids are
 *   unique in an env.
 * - **`seq` only rises.** Every new registration gets a `seq` greater than
 *   every `seq` before it in the env, even after the backend lost its data;
 *   a registration that lapsed comes back with a new one.
 * - **Terms only rise.** Every `campaign` that grants leadership returns a
 *   term greater than every term granted before for the service, and none
 *   is granted while another leader's lease can still run.
 * - **Status changes in place.** A heartbeat with a new `status` (any of the
 *   five: healthy, warning, unhealthy, draining, maintenance) changes the
 *   same registration (same `seq`) and records an `update` with reason
 *   `health`.
 * - **Change reasons.** A driver records `join` with `registered` or
 *   `reregistered`, `update` with `health`, and `leave` with `deregistered`
 *   or `expired`. `resync` is the change feed's, never a driver's. A change
 *   log with a gap says so with `ChangeLogGapError`.
 *
 * @module
 */

import type { Instance, InstanceFields } from "../instance.ts";

/** The shortest ttl a registration may have, in ms. */
export const MIN_TTL_MS = 100;
/**
 * The longest ttl a registration may have, in ms (one hour). Drivers rely
 * on it to bound what they keep about outages.
 */
export const MAX_TTL_MS = 3_600_000;

/**
 * What a process asks a driver to store. It carries everything needed to
 * re-create the registration, so a heartbeat can restore an entry the backend
 * lost.
 */
export interface Registration extends InstanceFields {
  /**
   * A secret random token naming this owner. A driver refreshes or deletes an
   * entry only for the owner that holds it, so a stale process can never
   * touch another's registration.
   */
  owner: string;
  /**
   * How long the entry lives without a heartbeat, in milliseconds: between
   * {@linkcode MIN_TTL_MS} and {@linkcode MAX_TTL_MS}.
   */
  ttl: number;
  /** How often the owner means to heartbeat, in milliseconds. */
  heartbeatInterval: number;
  /** Its weight for pickers; 100 when not given. */
  weight?: number;
  /**
   * The leadership term this owner holds for its service, while it leads:
   * a heartbeat then also asks the backend whether it still names this
   * registration as the holder of that term (`HeartbeatResult.termHeld`).
   */
  term?: number;
}

/** What a driver reports for one heartbeat. */
export interface HeartbeatResult {
  /** The instance as the backend now records it. */
  instance: Instance;
  /**
   * True when the entry was missing or had expired, and this heartbeat
   * created it again with a new `seq`.
   */
  reregistered: boolean;
  /**
   * When the registration carried a `term`: whether the backend still
   * names it as the holder of that term. A backend that lost the record of
   * the leadership, and of any later grant, while the entry kept its seq
   * may record it again and answer true. Undefined when no term was given,
   * or from a driver that cannot tell.
   */
  termHeld?: boolean;
}

/** Which registrations to identify for deregistration. */
export type RegistrationKey = Pick<
  Registration,
  "env" | "service" | "id" | "owner"
>;

/** Which instances to list. */
export interface ListQuery {
  /** The env to list. */
  env: string;
  /** The services to list; none or empty means every service in the env. */
  services?: readonly string[];
}

/**
 * What a backend cannot promise, where it differs from the rest. Absent, or
 * a flag left out: the backend keeps that part of the promise.
 */
export interface DriverLimitations {
  /**
   * The backend records no beat times (a heartbeat writes nothing): a
   * listing's `heartbeatAt` is when it read the instance alive, and its
   * `expiresAt` that time plus the lease, the latest it could run.
   */
  readonly beatTimesUnrecorded?: boolean;
  /**
   * Some faults drop live entries, and watchers see it: a freeze of the
   * server longer than the ttl (etcd's lessor revokes, as it resumes, the
   * leases it did not hear from, and refuses to renew them), and an entry
   * deleted by hand. Each owner that kept running puts its instance back
   * within one interval, under the same `seq`; meanwhile listings leave it
   * out, and a watcher sees a `leave` (`expired`) and then a `join`
   * (`reregistered`), or nothing at all while eviction protection holds
   * the instance.
   */
  readonly dropsLiveEntries?: boolean;
  /**
   * A restart of the server renews every lease by its ttl as it comes back
   * (etcd's leader does on election, so that no lease runs out for the
   * downtime): an instance that died within a ttl before the restart is
   * listed until a ttl after the server is back, for every observer (etcd
   * adds its election timeout, 1 s by default).
   */
  readonly restartRenewsLeases?: boolean;
}

/** A storage backend for the registry. */
export interface Driver {
  /** A short name for logs, such as `memory` or `redis`. */
  readonly name: string;
  /** What this backend cannot promise; absent where it keeps it all. */
  readonly limitations?: DriverLimitations;
  /**
   * Stores a registration. Registering again with the same owner refreshes it.
   *
   * @param registration The registration to store.
   * @returns The stored instance.
   * @throws {AlreadyRegisteredError} When another live owner holds the id.
   */
  register(registration: Registration): Promise<Instance>;
  /**
   * Extends a registration by its ttl, re-creating it (with a new `seq`) when
   * it is missing or has expired, and records a changed `status` as an
   * `update`. A backend that lost the entry while its lease still ran, or
   * expired it while its owner kept trying to beat (a frozen server), may
   * put it back under the same `seq`.
   *
   * @param registration The registration to refresh.
   * @returns The refreshed instance and whether it was re-created.
   * @throws {AlreadyRegisteredError} When another live owner now holds the id.
   */
  heartbeat(registration: Registration): Promise<HeartbeatResult>;
  /**
   * Removes a registration if, and only if, `owner` holds it.
   *
   * @param key The env, service, id and owner of the registration.
   * @returns Whether an entry was removed.
   */
  deregister(key: RegistrationKey): Promise<boolean>;
  /**
   * Lists live instances, oldest registration (lowest `seq`) first.
   *
   * @param query The env and services to list.
   * @returns The live instances.
   */
  list(query: ListQuery): Promise<Instance[]>;
  /**
   * Lists the names of services with at least one live instance.
   *
   * @param env The env to look in.
   * @returns Service names, sorted.
   */
  services(env: string): Promise<string[]>;
  /**
   * Lists the envs with at least one live instance: what a reader that
   * found none in its env is told to try. Optional: a driver that cannot
   * tell leaves it out, and readers name no other env.
   *
   * @returns Env names, sorted.
   */
  envs?(): Promise<string[]>;
  /**
   * Removes the env's expired entries, recording a `leave` change for each.
   * Watchers call it, so an expiry is reported even when no live instance
   * is left to trigger a purge. A backend may let one process per env do
   * the work at a time, so one call may leave it to another process that
   * purges the env meanwhile.
   *
   * @param env The env to purge.
   * @returns When purging the env is worth trying again, in ms from now
   *   (when the next entry falls due, say), or undefined to leave that to
   *   the caller's own period.
   */
  purge(env: string): Promise<number | undefined>;
  /**
   * The live instances of an env and the position of its change log, taken
   * so that every change after the position is reflected in, or comes after,
   * the instances.
   *
   * @param env The env.
   * @returns The instances (oldest first) and the change-log cursor.
   */
  snapshot(env: string): Promise<Snapshot>;
  /**
   * Reads the changes recorded after `cursor`, waiting up to `waitMs` for the
   * first one.
   *
   * @param env The env.
   * @param cursor A cursor from `snapshot` or an earlier `changes`.
   * @param options How long to wait, and a signal that ends the wait early.
   * @returns The changes (possibly none) and the cursor to read on from.
   * @throws {ChangeLogGapError} When changes after `cursor` were lost (the log
   *   was trimmed, or the backend lost its data); take a new snapshot.
   */
  changes(
    env: string,
    cursor: string,
    options: { waitMs: number; signal?: AbortSignal },
  ): Promise<ChangeBatch>;
  /**
   * Sends a message to everyone subscribed to `channel` in the env, now.
   * Delivery is at most once: a subscriber that is away misses it. Optional,
   * with `subscribe`: a backend without pub/sub leaves both out.
   *
   * @param env The env.
   * @param channel The channel, such as `service:api` or `instance:api-1`.
   * @param payload The message.
   * @returns How many subscribers it reached, where the backend knows.
   */
  publish?(env: string, channel: string, payload: string): Promise<number>;
  /**
   * Receives the messages sent to `channel` in the env.
   *
   * @param env The env.
   * @param channel The channel.
   * @param handler Called with each payload.
   * @returns A function that unsubscribes.
   */
  subscribe?(
    env: string,
    channel: string,
    handler: (payload: string) => void,
  ): Promise<() => Promise<void>>;
  /**
   * Makes `registration` the leader of its service, atomically, if it is the
   * oldest live instance of the service that takes work (`healthy` or
   * `warning`; lowest `seq`) and no other leader's lease can still be
   * running by the backend's clock: the last leader resigned, or its
   * registration lapsed, left, was replaced, or stopped taking work. Each grant takes a new term from a per-service counter
   * that only rises, never below the backend's time in microseconds, so a
   * term is greater than every term granted before for the service, even
   * after the backend lost the counter.
   *
   * @param registration The registration that asks to lead.
   * @returns The term, the fencing number of this leadership; undefined
   *   when it may not lead now.
   */
  campaign(registration: Registration): Promise<number | undefined>;
  /**
   * Ends the leadership `term` of `registration`, if it still holds it, so
   * another instance may be granted at once rather than when its lease runs
   * out.
   *
   * @param registration The leader's registration.
   * @param term The term it was granted.
   * @returns A promise that resolves once the backend recorded it.
   */
  resign(registration: Registration, term: number): Promise<void>;
  /**
   * Describes the backend for an operator (`roster status`): its version,
   * its clock, and what an env stores. Optional.
   *
   * @param env The env.
   * @returns What the backend says of itself and the env.
   */
  status?(env: string): Promise<BackendStatus>;
  /** Releases the driver's own resources (never a client it was handed). */
  close(): Promise<void>;
}

/** What a backend says of itself and an env, for `roster status`. */
export interface BackendStatus {
  /** The server and its version, such as `redis 7.0.15`. */
  server: string;
  /** Where it is, without credentials, such as `127.0.0.1:6379`. */
  target: string;
  /** The backend's clock when it answered, in ms since the epoch. */
  time: number;
  /** How many storage entries (keys, rows) the env uses. */
  entries: number;
  /** How many changes the env's change log holds. */
  changeLogLength: number;
}

/** Why an instance joined, changed or left. */
export type ChangeReason =
  | "registered"
  | "reregistered"
  | "deregistered"
  | "expired"
  | "health"
  | "resync";

/** One recorded change of the registry. */
export interface Change {
  /** `join`: a new registration; `update`: its status changed; `leave`: it is gone. */
  type: "join" | "update" | "leave";
  /** What caused it. */
  reason: ChangeReason;
  /** The instance as registered (for a leave, as it was last). */
  instance: Instance;
}

/** The live instances and the change-log position they correspond to. */
export interface Snapshot {
  /** Live instances, oldest first. */
  instances: Instance[];
  /** Where to read changes from. */
  cursor: string;
}

/** Changes read from the log. */
export interface ChangeBatch {
  /** The changes, oldest first. */
  changes: Change[];
  /** Where to read on from. */
  cursor: string;
  /**
   * When purging the env is next worth trying, in ms from now, when the
   * read told the driver so (another process purged meanwhile, say):
   * what `purge` would return now, learned without a call of its own. The
   * caller's next `purge` comes then, not when the last one said.
   */
  purgeIn?: number;
}

/** When a backend recorded a registration, by its own clock. */
export interface RecordedTimes {
  /** The registration number it assigned. */
  seq: number;
  /** When the registration began. */
  registeredAt: number;
  /** When it lapses without another heartbeat. */
  expiresAt: number;
}

/**
 * The instance a backend records for a registration: its fields, less the
 * owner token, plus the backend's numbers and times. For driver authors.
 *
 * @param registration The registration.
 * @param times The seq and times the backend assigned.
 * @returns The instance.
 *
 * @example
 * ```ts
 * import { instanceOf } from "@roster/roster/driver";
 * import assert from "node:assert/strict";
 *
 * const instance = instanceOf({
 *   id: "a", service: "api", env: "default", version: "", addr: "", meta: {},
 *   hostname: "h", pid: 1, status: "healthy", owner: "secret", ttl: 1000,
 *   heartbeatInterval: 300,
 * }, { seq: 1, registeredAt: 0, expiresAt: 1000 });
 * assert.equal(instance.heartbeatAt, 0);
 * assert.equal("owner" in instance, false);
 * ```
 */
export function instanceOf(
  registration: Registration,
  times: RecordedTimes,
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
    status: registration.status,
    seq: times.seq,
    registeredAt: times.registeredAt,
    heartbeatAt: times.expiresAt - registration.ttl,
    expiresAt: times.expiresAt,
    heartbeatInterval: registration.heartbeatInterval,
    weight: registration.weight ?? 100,
  };
}
