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

import { type Clock, systemClock } from "../clock.ts";
import type {
  Driver,
  HeartbeatResult,
  ListQuery,
  Registration,
  RegistrationKey,
} from "../driver.ts";
import { AlreadyRegisteredError } from "../errors.ts";
import type { Instance } from "../instance.ts";

/** Options for {@linkcode MemoryDriver}. */
export interface MemoryDriverOptions {
  /** The clock that decides expiry; a `FakeClock` in tests. */
  clock?: Clock;
}

interface Entry {
  owner: string;
  ttl: number;
  instance: Instance;
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
 *   meta: {}, hostname: "h", pid: 1, owner: "token", ttl: 1000,
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
  readonly #envs = new Map<string, Map<string, Entry>>();
  #seq = 0;
  #nextExpiry = Infinity;

  /**
   * Creates an empty memory driver.
   *
   * @param options The clock to use.
   */
  constructor(options: MemoryDriverOptions = {}) {
    this.#clock = options.clock ?? systemClock;
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
   * Stores a registration.
   *
   * @param registration The registration to store.
   * @returns The stored instance.
   */
  register(registration: Registration): Promise<Instance> {
    const now = this.#purge();
    const current = this.#entries(registration.env).get(registration.id);
    if (current && current.owner !== registration.owner) {
      return Promise.reject(
        new AlreadyRegisteredError(registration.id, registration.env),
      );
    }
    return Promise.resolve(
      current ? this.#refresh(current, now) : this.#create(registration, now),
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
    const current = this.#entries(registration.env).get(registration.id);
    if (current && current.owner !== registration.owner) {
      return Promise.reject(
        new AlreadyRegisteredError(registration.id, registration.env),
      );
    }
    return Promise.resolve(
      current
        ? { instance: this.#refresh(current, now), reregistered: false }
        : { instance: this.#create(registration, now), reregistered: true },
    );
  }

  /**
   * Removes a registration held by `key.owner`.
   *
   * @param key Which registration, and its owner.
   * @returns Whether it was removed.
   */
  deregister(key: RegistrationKey): Promise<boolean> {
    this.#purge();
    const entries = this.#envs.get(key.env);
    const current = entries?.get(key.id);
    if (!entries || !current || current.owner !== key.owner) {
      return Promise.resolve(false);
    }
    entries.delete(key.id);
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

  /** Nothing to release; kept for the driver contract. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  #entries(env: string): Map<string, Entry> {
    let entries = this.#envs.get(env);
    if (!entries) this.#envs.set(env, entries = new Map());
    return entries;
  }

  #create(registration: Registration, now: number): Instance {
    const instance: Instance = {
      id: registration.id,
      service: registration.service,
      env: registration.env,
      version: registration.version,
      addr: registration.addr,
      meta: { ...registration.meta },
      hostname: registration.hostname,
      pid: registration.pid,
      seq: ++this.#seq,
      registeredAt: now,
      heartbeatAt: now,
      expiresAt: now + registration.ttl,
    };
    this.#entries(registration.env).set(registration.id, {
      owner: registration.owner,
      ttl: registration.ttl,
      instance,
    });
    this.#nextExpiry = Math.min(this.#nextExpiry, instance.expiresAt);
    return copy(instance);
  }

  #refresh(entry: Entry, now: number): Instance {
    // A refresh only moves expiry later, so the earliest expiry stays valid.
    entry.instance = {
      ...entry.instance,
      heartbeatAt: now,
      expiresAt: now + entry.ttl,
    };
    return copy(entry.instance);
  }

  /** Drops expired entries once the earliest expiry has passed; returns now. */
  #purge(): number {
    const now = this.#clock.now();
    if (now < this.#nextExpiry) return now;
    let next = Infinity;
    for (const [env, entries] of this.#envs) {
      for (const [id, entry] of entries) {
        if (entry.instance.expiresAt <= now) entries.delete(id);
        else next = Math.min(next, entry.instance.expiresAt);
      }
      if (entries.size === 0) this.#envs.delete(env);
    }
    this.#nextExpiry = next;
    return now;
  }
}

function copy(instance: Instance): Instance {
  return { ...instance, meta: { ...instance.meta } };
}
