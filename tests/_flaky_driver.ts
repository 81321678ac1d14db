import type {
  ChangeBatch,
  Driver,
  HeartbeatResult,
  ListQuery,
  Registration,
  RegistrationKey,
  Snapshot,
} from "../contract/driver.ts";
import type { Instance } from "../instance.ts";
import { MemoryDriver } from "../drivers/memory/mod.ts";
import type { Clock } from "../clock.ts";

/**
 * A memory driver that a test can make fail, hang or forget, to play a
 * backend that is down, slow or lost its data.
 */
export class FlakyDriver implements Driver {
  readonly name = "flaky";
  readonly inner: MemoryDriver;
  /** When set, every call rejects with this error. */
  failWith: Error | undefined;
  /** When true, heartbeats and deregistrations never settle until released. */
  hang = false;
  heartbeats = 0;
  inflight = 0;
  maxInflight = 0;
  #hung: (() => void)[] = [];
  #registrations = new Map<string, Registration>();

  constructor(clock: Clock) {
    this.inner = new MemoryDriver({ clock });
  }

  /** Drops every registration, as a Redis FLUSHALL would. */
  async forgetAll(): Promise<void> {
    for (const reg of this.#registrations.values()) {
      await this.inner.deregister(reg);
    }
  }

  /** Lets hung calls fail. */
  release(): void {
    for (const resolve of this.#hung.splice(0)) resolve();
  }

  async #gate(): Promise<void> {
    if (this.failWith) throw this.failWith;
    if (this.hang) {
      await new Promise<void>((resolve) => this.#hung.push(resolve));
      throw new Error("released after hanging");
    }
  }

  async register(registration: Registration): Promise<Instance> {
    await this.#gate();
    this.#registrations.set(registration.id, registration);
    return this.inner.register(registration);
  }

  async heartbeat(registration: Registration): Promise<HeartbeatResult> {
    this.heartbeats++;
    this.inflight++;
    this.maxInflight = Math.max(this.maxInflight, this.inflight);
    try {
      await this.#gate();
      return await this.inner.heartbeat(registration);
    } finally {
      this.inflight--;
    }
  }

  async deregister(key: RegistrationKey): Promise<boolean> {
    await this.#gate();
    return this.inner.deregister(key);
  }

  async list(query: ListQuery): Promise<Instance[]> {
    await this.#gate();
    return this.inner.list(query);
  }

  async services(env: string): Promise<string[]> {
    await this.#gate();
    return this.inner.services(env);
  }

  async purge(env: string): Promise<number | undefined> {
    await this.#gate();
    return this.inner.purge(env);
  }

  async campaign(registration: Registration): Promise<number | undefined> {
    await this.#gate();
    return this.inner.campaign(registration);
  }

  async resign(registration: Registration, term: number): Promise<void> {
    await this.#gate();
    return this.inner.resign(registration, term);
  }

  async snapshot(env: string): Promise<Snapshot> {
    await this.#gate();
    return this.inner.snapshot(env);
  }

  async changes(
    env: string,
    cursor: string,
    options: { waitMs: number; signal?: AbortSignal },
  ): Promise<ChangeBatch> {
    await this.#gate();
    return this.inner.changes(env, cursor, options);
  }

  async publish(
    env: string,
    channel: string,
    payload: string,
  ): Promise<number> {
    await this.#gate();
    return this.inner.publish(env, channel, payload);
  }

  subscribe(
    env: string,
    channel: string,
    handler: (payload: string) => void,
  ): Promise<() => Promise<void>> {
    return this.inner.subscribe(env, channel, handler);
  }

  close(): Promise<void> {
    this.release();
    return this.inner.close();
  }
}
