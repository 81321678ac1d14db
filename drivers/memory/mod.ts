/**
 * The in-memory driver: the default, for development and tests. It lives in
 * one process, so a process sees only the instances registered through it.
 *
 * @example Share one memory driver between two registries
 * ```ts
 * import { Registry } from "@roster/roster";
 * import { MemoryDriver } from "@roster/roster/memory";
 * import assert from "node:assert/strict";
 *
 * const driver = new MemoryDriver();
 * await using a = new Registry({ driver, service: "api" });
 * await using b = new Registry({ driver, service: "api" });
 * await a.start();
 * await b.start();
 * assert.equal((await a.instances("api")).length, 2);
 * ```
 *
 * @module
 */

import { type Clock, systemClock } from "../../clock.ts";
import {
  type BackendStatus,
  type Change,
  type ChangeBatch,
  type ChangeReason,
  type Driver,
  type HeartbeatResult,
  instanceOf,
  type ListQuery,
  type Registration,
  type RegistrationKey,
  type Snapshot,
} from "../../contract/driver.ts";
import { AlreadyRegisteredError, ChangeLogGapError } from "../../errors.ts";
import { type Instance, takesWork } from "../../instance.ts";

/** Options for {@linkcode MemoryDriver}. */
export interface MemoryDriverOptions {
  /** The clock that decides expiry; a `FakeClock` in tests. */
  clock?: Clock;
  /** How many changes each env's log keeps. Default 10,000. */
  changeLogLength?: number;
}

interface Entry {
  owner: string;
  ttl: number;
  instance: Instance;
}

/** One env's change log: the changes numbered `first` onwards. */
interface ChangeLog {
  first: number;
  changes: Change[];
  waiters: Set<() => void>;
}

/**
 * A process-local driver. Expiry follows an injectable clock, and expired
 * entries are purged as time passes, so storage never grows without bound.
 *
 * @example
 * ```ts
 * import { MemoryDriver } from "@roster/roster/memory";
 * import { FakeClock } from "@roster/roster/testing";
 * import assert from "node:assert/strict";
 *
 * const clock = new FakeClock();
 * const driver = new MemoryDriver({ clock });
 * await driver.register({
 *   id: "api-1", service: "api", env: "default", version: "", addr: "",
 *   meta: {}, hostname: "h", pid: 1, owner: "token", ttl: 1000, heartbeatInterval: 300, status: "healthy" as const,
 * });
 * assert.equal((await driver.list({ env: "default" })).length, 1);
 * clock.tick(1000);
 * assert.equal((await driver.list({ env: "default" })).length, 0);
 * ```
 */
export class MemoryDriver implements Driver {
  /** Always `"memory"`. */
  readonly name = "memory";
  readonly #clock: Clock;
  readonly #logLength: number;
  readonly #envs = new Map<string, Map<string, Entry>>();
  readonly #logs = new Map<string, ChangeLog>();
  readonly #channels = new Map<string, Set<(payload: string) => void>>();
  #seq = 0;
  #nextExpiry = Infinity;
  readonly #terms = new Map<string, number>();
  readonly #leaders = new Map<
    string,
    { id: string; seq: number; term: number }
  >();

  /**
   * Creates an empty memory driver.
   *
   * @param options The clock to use, and the change-log length.
   */
  constructor(options: MemoryDriverOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#logLength = options.changeLogLength ?? 10_000;
  }

  /**
   * Counts stored entries, expired or not; for tests that check purging.
   *
   * @param env Count only this env; all envs when not given.
   * @returns The number of entries held.
   */
  stored(env?: string): number {
    if (env !== undefined) return this.#envs.get(env)?.size ?? 0;
    let size = 0;
    for (const entries of this.#envs.values()) size += entries.size;
    return size;
  }

  /**
   * Forgets an env's recorded changes, as a log trimmed past its readers
   * would; for tests of how watchers catch up.
   *
   * @param env The env.
   */
  trimChanges(env: string): void {
    const log = this.#log(env);
    log.first += log.changes.length;
    log.changes = [];
  }

  /**
   * Stores a registration.
   *
   * @param registration The registration to store.
   * @returns The stored instance.
   */
  register(registration: Registration): Promise<Instance> {
    const now = this.#purge();
    const current = this.#envs.get(registration.env)?.get(registration.id);
    if (current && current.owner !== registration.owner) {
      return Promise.reject(
        new AlreadyRegisteredError(registration.id, registration.env),
      );
    }
    return Promise.resolve(
      current
        ? this.#refresh(current, registration, now)
        : this.#create(registration, now, "registered"),
    );
  }

  /**
   * Refreshes a registration, re-creating it when missing.
   *
   * @param registration The registration to refresh.
   * @returns The instance and whether it was re-created.
   */
  heartbeat(registration: Registration): Promise<HeartbeatResult> {
    const now = this.#purge();
    const current = this.#envs.get(registration.env)?.get(registration.id);
    if (current && current.owner !== registration.owner) {
      return Promise.reject(
        new AlreadyRegisteredError(registration.id, registration.env),
      );
    }
    const result: HeartbeatResult = current
      ? {
        instance: this.#refresh(current, registration, now),
        reregistered: false,
      }
      : {
        instance: this.#create(registration, now, "reregistered"),
        reregistered: true,
      };
    if (registration.term !== undefined) {
      const leader = this.#leaders.get(
        `${registration.env}/${registration.service}`,
      );
      result.termHeld = leader?.id === registration.id &&
        leader.seq === result.instance.seq &&
        leader.term === registration.term;
    }
    return Promise.resolve(result);
  }

  /**
   * Removes a registration held by `key.owner`.
   *
   * @param key Which registration, and its owner.
   * @returns Whether it was removed.
   */
  deregister(key: RegistrationKey): Promise<boolean> {
    this.#purge();
    const current = this.#envs.get(key.env)?.get(key.id);
    if (!current || current.owner !== key.owner) return Promise.resolve(false);
    this.#remove(key.env, current, "deregistered");
    return Promise.resolve(true);
  }

  /**
   * Lists live instances, oldest first.
   *
   * @param query The env and services.
   * @returns Copies of the live instances.
   */
  list(query: ListQuery): Promise<Instance[]> {
    this.#purge();
    const wanted = query.services?.length ? new Set(query.services) : null;
    const out: Instance[] = [];
    for (const entry of this.#envs.get(query.env)?.values() ?? []) {
      if (!wanted || wanted.has(entry.instance.service)) {
        out.push(copy(entry.instance));
      }
    }
    return Promise.resolve(out.sort((a, b) => a.seq - b.seq));
  }

  /**
   * Lists services with live instances.
   *
   * @param env The env.
   * @returns Sorted service names.
   */
  services(env: string): Promise<string[]> {
    this.#purge();
    const names = new Set<string>();
    for (const entry of this.#envs.get(env)?.values() ?? []) {
      names.add(entry.instance.service);
    }
    return Promise.resolve([...names].sort());
  }

  /**
   * Lists the envs with live instances.
   *
   * @returns Sorted env names.
   */
  envs(): Promise<string[]> {
    this.#purge();
    const names = [...this.#envs].filter(([, entries]) => entries.size > 0)
      .map(([env]) => env);
    return Promise.resolve(names.sort());
  }

  /**
   * Removes expired entries now.
   *
   * @param _env Unused: every env is purged.
   * @returns Undefined: purging is cheap, so the caller's period suits.
   */
  purge(_env: string): Promise<undefined> {
    this.#purge();
    return Promise.resolve(undefined);
  }

  /**
   * The live instances and the change-log position.
   *
   * @param env The env.
   * @returns Instances and cursor.
   */
  async snapshot(env: string): Promise<Snapshot> {
    const instances = await this.list({ env });
    const log = this.#log(env);
    return { instances, cursor: String(log.first + log.changes.length) };
  }

  /**
   * Changes after `cursor`, waiting up to `waitMs` (on the driver's clock)
   * for the first.
   *
   * @param env The env.
   * @param cursor Where to read from.
   * @param options The wait and a signal to end it.
   * @returns The changes and the next cursor.
   */
  async changes(
    env: string,
    cursor: string,
    options: { waitMs: number; signal?: AbortSignal },
  ): Promise<ChangeBatch> {
    const log = this.#log(env);
    const position = Number(cursor);
    const end = () => log.first + log.changes.length;
    if (
      !Number.isInteger(position) || position < log.first || position > end()
    ) {
      throw new ChangeLogGapError(env, cursor);
    }
    if (position === end() && options.waitMs > 0 && !options.signal?.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.#clock.clearTimeout(timer);
          log.waiters.delete(done);
          options.signal?.removeEventListener("abort", done);
          resolve();
        };
        const timer = this.#clock.setTimeout(done, options.waitMs);
        log.waiters.add(done);
        options.signal?.addEventListener("abort", done, { once: true });
      });
    }
    if (position < log.first) throw new ChangeLogGapError(env, cursor);
    return {
      changes: log.changes.slice(position - log.first).map((change) => ({
        ...change,
        instance: copy(change.instance),
      })),
      cursor: String(end()),
    };
  }

  /**
   * Delivers a message to this process's subscribers of the channel.
   *
   * @param env The env.
   * @param channel The channel.
   * @param payload The message.
   * @returns How many subscribers got it.
   */
  publish(env: string, channel: string, payload: string): Promise<number> {
    const handlers = [...this.#channels.get(`${env}/${channel}`) ?? []];
    // Delivered on a later turn, as from a real backend.
    queueMicrotask(() => {
      for (const handler of handlers) handler(payload);
    });
    return Promise.resolve(handlers.length);
  }

  /**
   * Subscribes to a channel in this process.
   *
   * @param env The env.
   * @param channel The channel.
   * @param handler Called with each payload.
   * @returns A function that unsubscribes.
   */
  subscribe(
    env: string,
    channel: string,
    handler: (payload: string) => void,
  ): Promise<() => Promise<void>> {
    const key = `${env}/${channel}`;
    let handlers = this.#channels.get(key);
    if (!handlers) this.#channels.set(key, handlers = new Set());
    const wrapped = (payload: string) => handler(payload);
    handlers.add(wrapped);
    return Promise.resolve(() => {
      handlers.delete(wrapped);
      if (handlers.size === 0) this.#channels.delete(key);
      return Promise.resolve();
    });
  }

  /**
   * Grants leadership of its service to `registration` when it is the oldest
   * live, healthy instance and no other leader's lease still runs.
   *
   * @param registration The registration that asks to lead.
   * @returns The new term, or undefined when refused.
   */
  campaign(registration: Registration): Promise<number | undefined> {
    const now = this.#purge();
    const entries = this.#envs.get(registration.env);
    const self = entries?.get(registration.id);
    if (
      !entries || !self || self.owner !== registration.owner ||
      self.instance.service !== registration.service ||
      !takesWork(self.instance)
    ) return Promise.resolve(undefined);
    for (const entry of entries.values()) {
      const { instance } = entry;
      if (
        instance.service === registration.service &&
        takesWork(instance) && instance.seq < self.instance.seq
      ) return Promise.resolve(undefined);
    }
    const key = `${registration.env}/${registration.service}`;
    const last = this.#leaders.get(key);
    const lastEntry = last && entries.get(last.id);
    if (
      last && last.id !== registration.id && lastEntry &&
      lastEntry.instance.seq === last.seq &&
      takesWork(lastEntry.instance)
    ) return Promise.resolve(undefined);
    const term = Math.max((this.#terms.get(key) ?? 0) + 1, now * 1000);
    this.#terms.set(key, term);
    this.#leaders.set(key, {
      id: registration.id,
      seq: self.instance.seq,
      term,
    });
    return Promise.resolve(term);
  }

  /**
   * Ends a leadership, if `registration` still holds `term`.
   *
   * @param registration The leader's registration.
   * @param term Its term.
   * @returns A promise that resolves at once.
   */
  resign(registration: Registration, term: number): Promise<void> {
    const key = `${registration.env}/${registration.service}`;
    const last = this.#leaders.get(key);
    const self = this.#envs.get(registration.env)?.get(registration.id);
    if (
      last?.id === registration.id && last.term === term &&
      (!self || self.owner === registration.owner)
    ) this.#leaders.delete(key);
    return Promise.resolve();
  }

  /**
   * Describes this in-process store and an env.
   *
   * @param env The env.
   * @returns Its entries and change-log length, by this driver's clock.
   */
  status(env: string): Promise<BackendStatus> {
    return Promise.resolve({
      server: "memory (this process only)",
      target: "this process",
      time: this.#clock.now(),
      entries: this.#envs.get(env)?.size ?? 0,
      changeLogLength: this.#logs.get(env)?.changes.length ?? 0,
    });
  }

  /** Ends every pending `changes` wait; the driver holds nothing else. */
  close(): Promise<void> {
    for (const log of this.#logs.values()) {
      for (const wake of [...log.waiters]) wake();
    }
    return Promise.resolve();
  }

  #log(env: string): ChangeLog {
    let log = this.#logs.get(env);
    if (!log) {
      this.#logs.set(env, log = { first: 0, changes: [], waiters: new Set() });
    }
    return log;
  }

  #record(env: string, change: Change): void {
    const log = this.#log(env);
    log.changes.push(change);
    if (log.changes.length > this.#logLength) {
      const drop = log.changes.length - this.#logLength;
      log.changes.splice(0, drop);
      log.first += drop;
    }
    for (const wake of [...log.waiters]) wake();
  }

  #create(
    registration: Registration,
    now: number,
    reason: ChangeReason,
  ): Instance {
    const instance = instanceOf(registration, {
      seq: ++this.#seq,
      registeredAt: now,
      expiresAt: now + registration.ttl,
    });
    let entries = this.#envs.get(registration.env);
    if (!entries) this.#envs.set(registration.env, entries = new Map());
    entries.set(registration.id, {
      owner: registration.owner,
      ttl: registration.ttl,
      instance,
    });
    this.#nextExpiry = Math.min(this.#nextExpiry, instance.expiresAt);
    this.#record(registration.env, { type: "join", reason, instance });
    return copy(instance);
  }

  #refresh(entry: Entry, registration: Registration, now: number): Instance {
    // A refresh only moves expiry later, so the earliest expiry stays valid.
    const changed = entry.instance.status !== registration.status;
    entry.instance = {
      ...entry.instance,
      status: registration.status,
      heartbeatAt: now,
      expiresAt: now + entry.ttl,
    };
    if (changed) {
      this.#record(registration.env, {
        type: "update",
        reason: "health",
        instance: entry.instance,
      });
    }
    return copy(entry.instance);
  }

  #remove(env: string, entry: Entry, reason: ChangeReason): void {
    const entries = this.#envs.get(env);
    entries?.delete(entry.instance.id);
    if (entries?.size === 0) this.#envs.delete(env);
    this.#record(env, { type: "leave", reason, instance: entry.instance });
  }

  /** Drops expired entries once the earliest expiry has passed; returns now. */
  #purge(): number {
    const now = this.#clock.now();
    if (now < this.#nextExpiry) return now;
    let next = Infinity;
    for (const [env, entries] of this.#envs) {
      for (const entry of [...entries.values()]) {
        if (entry.instance.expiresAt <= now) {
          this.#remove(env, entry, "expired");
        } else next = Math.min(next, entry.instance.expiresAt);
      }
    }
    this.#nextExpiry = next;
    return now;
  }
}

function copy(instance: Instance): Instance {
  return { ...instance, meta: { ...instance.meta } };
}

// The contract's types this module's API names, so its documentation is
// complete on its own.
export type * from "../../contract/contract_types.ts";
