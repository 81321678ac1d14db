/**
 * The registry: the facade a process uses. It composes the session (this
 * process's registration and its life), discovery (the live instances of an
 * env), the election and messaging, each in its own folder.
 *
 * @module
 */

import type { Attributes } from "@opentelemetry/api";
import { withDeadline } from "./_deadline.ts";
import { EventEmitter } from "./_event_emitter.ts";
import { RegistryMetrics } from "./_telemetry.ts";
import { type Clock, systemClock } from "./clock.ts";
import type { Driver } from "./contract/driver.ts";
import { Discovery } from "./discovery/discovery.ts";
import type { Selector } from "./discovery/select.ts";
import type { ProtectionChange } from "./discovery/eviction_protection.ts";
import type { Picker } from "./discovery/pickers.ts";
import type { QuorumState } from "./discovery/quorum.ts";
import type { ViewState } from "./discovery/view.ts";
import type { WaitForOptions } from "./discovery/wait_for.ts";
import type { WatchEvent, WatchOptions } from "./discovery/watch.ts";
import { type Duration, parseDuration } from "./duration.ts";
import { Election } from "./election/election.ts";
import type { LeaderChange, Leadership } from "./election/leadership.ts";
import { ConfigError, RegistryStateError, TimeoutError } from "./errors.ts";
import type { HeartbeatState } from "./heartbeat/heartbeat_loop.ts";
import {
  defaultInstanceId,
  type HealthStatus,
  type Instance,
  type InstanceStatus,
  validateName,
} from "./instance.ts";
import type { Message } from "./messaging/message.ts";
import { Messenger } from "./messaging/messenger.ts";
import {
  type RegistryOptions,
  type ResolvedOptions,
  resolveRegistryOptions,
  type StreamOptions,
} from "./registry_options.ts";
import type { DiscoveryApi } from "./discovery/discovery_api.ts";
import type { ElectionApi } from "./election/election_api.ts";
import type { MessagingApi } from "./messaging/messaging_api.ts";
import type { RegistrationApi } from "./session/registration_api.ts";
import type { DrainOptions } from "./session/drain.ts";
import type { MaintenanceOptions } from "./session/maintenance.ts";
import {
  type RegistryState,
  Session,
  type SessionEvents,
} from "./session/session.ts";

/** Every event a registry reports, by name. */
export interface RegistryEvents extends SessionEvents {
  /**
   * The eviction safety valve of this registry's view held a service's
   * expiries (`on`), or stopped holding them: its instances beat again, or
   * the bound passed and `held` expired.
   */
  protection: ProtectionChange;
  /** The local view went `live` or `stale` (only while watching or caching). */
  view: { state: ViewState; error?: unknown };
}

let defaultDriver: (() => Driver) | undefined;

/**
 * Sets the driver a registry uses when its options name none. The public
 * entry point chooses it (the process's memory driver); the core never
 * imports a driver.
 *
 * @param factory Makes or returns the default driver.
 */
export function setDefaultDriver(factory: () => Driver): void {
  defaultDriver = factory;
}

/**
 * The registry of one process: it registers the process as an instance of a
 * service, heartbeats under a ttl, deregisters on stop, and lists the live
 * instances of any service. A registry created without a `service` only
 * discovers.
 *
 * The heartbeat loop never throws into the application: failures are
 * retried with capped backoff and reported as events (`heartbeat_failed`,
 * `recovered`, `reregistered`, `conflict`) and as one log line per state
 * change under the LogTape category `["roster"]`.
 *
 * @example Register, list, stop
 * ```ts
 * import { Registry } from "@roster/roster";
 * import assert from "node:assert/strict";
 *
 * await using registry = new Registry({
 *   service: "api",
 *   version: "1.4.0",
 *   addr: "http://127.0.0.1:8080",
 *   heartbeatInterval: "5s",
 *   ttl: "15s",
 * });
 * const me = await registry.start();
 * const live = await registry.instances("api");
 * assert.ok(live.some((instance) => instance.id === me.id));
 * await registry.stop();
 * ```
 */
export class Registry
  implements
    RegistrationApi,
    DiscoveryApi,
    ElectionApi,
    MessagingApi,
    AsyncDisposable {
  /** The backend this registry talks to. */
  readonly driver: Driver;
  /** This instance's id; undefined in a registry that only discovers. */
  readonly id: string | undefined;
  /** This instance's service; undefined in a registry that only discovers. */
  readonly service: string | undefined;
  /** The env this registry registers and lists in. */
  readonly env: string;
  /** Time between heartbeats, in ms. */
  readonly heartbeatInterval: number;
  /** Registration ttl, in ms. */
  readonly ttl: number;

  readonly #options: ResolvedOptions;
  readonly #clock: Clock;
  readonly #signal: AbortSignal | undefined;
  readonly #events = new EventEmitter<RegistryEvents>();
  readonly #session: Session;
  readonly #discovery: Discovery;
  readonly #election: Election;
  readonly #messenger: Messenger;
  readonly #metrics: RegistryMetrics;
  #stopping: Promise<void> | undefined;

  /**
   * Creates a registry. Every option is validated here, so a bad value fails
   * at once with a {@linkcode ConfigError} that names it.
   *
   * @param options The service, timing, driver and other options.
   * @throws {ConfigError} When an option is invalid.
   */
  constructor(options: RegistryOptions = {}) {
    const resolved = this.#options = resolveRegistryOptions(options);
    const driver = options.driver ?? defaultDriver?.();
    if (!driver) {
      throw new ConfigError(
        "Missing 'driver': pass one, such as { driver: new MemoryDriver() }, or import Registry from the package's main entry point, which defaults to the memory driver",
        { field: "driver" },
      );
    }
    this.driver = driver;
    const clock = this.#clock = options.clock ?? systemClock;
    this.#signal = options.signal;
    this.service = resolved.service;
    this.env = resolved.env;
    this.heartbeatInterval = resolved.heartbeatInterval;
    this.ttl = resolved.ttl;
    const id = this.id = this.service === undefined
      ? undefined
      : resolved.id ?? defaultInstanceId(this.service, resolved.hostname);
    const attributes: Attributes = {
      "roster.env": this.env,
      "roster.driver": driver.name,
      ...(this.service === undefined ? {} : { "roster.service": this.service }),
    };
    const metrics = this.#metrics = new RegistryMetrics(
      attributes,
      options.meterProvider,
    );
    const session = this.#session = new Session({
      driver,
      clock,
      options: resolved,
      id,
      health: options.health,
      events: this.#events,
      attributes,
      resign: (reason) => this.#election.resignAll(reason),
      stopRegistry: () => this.stop(),
    });
    this.#discovery = new Discovery({
      driver,
      clock,
      options: resolved,
      id,
      stopping: () => this.#stopping !== undefined,
      viewChanged: (state, error) =>
        this.#events.emit("view", { state, error }),
      protectionChanged: (change) => {
        metrics.protection(change.service, change.on);
        this.#events.emit("protection", change);
      },
    });
    this.#election = new Election({
      driver,
      clock,
      leaseMs: this.ttl - resolved.heartbeatTimeout,
      retryMs: Math.min(250, this.heartbeatInterval),
      feed: () => this.#discovery.feed(),
      current: () => session.electionSelf(),
      on: (type, listener) => this.on(type, listener as () => void),
      leadershipChanged: (service, change) =>
        metrics.leaderChange(service, change),
    });
    this.#messenger = new Messenger({
      driver,
      env: this.env,
      clock,
      maxMessageBytes: resolved.maxMessageBytes,
      id,
      self: () =>
        session.state === "running" && id && this.service
          ? { id, service: this.service }
          : undefined,
      state: () => session.state,
    });
    metrics.follow((type, listener) =>
      this.on(type, listener as (event: RegistryEvents[typeof type]) => void)
    );
    this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  get state(): RegistryState {
    return this.#session.state;
  }

  get heartbeatState(): HeartbeatState {
    return this.#session.heartbeatState;
  }

  /**
   * Listens for an event.
   *
   * @param type The event name, such as `heartbeat_failed`.
   * @param listener Called with the event; a listener that throws is logged and skipped.
   * @returns A function that removes the listener.
   *
   * @example
   * ```ts
   * import { Registry } from "@roster/roster";
   *
   * await using registry = new Registry({ service: "api" });
   * const off = registry.on("reregistered", ({ instance }) => {
   *   console.log(`registered again as seq ${instance.seq}`);
   * });
   * off();
   * ```
   */
  on<K extends keyof RegistryEvents>(
    type: K,
    listener: (event: RegistryEvents[K]) => void,
  ): () => void {
    return this.#events.on(type, listener);
  }

  start(): Promise<Instance> {
    // A state or service error first, as the session reports them.
    if (
      this.#signal?.aborted && this.#session.state === "idle" &&
      this.service !== undefined
    ) {
      this.#session.refuseStart();
      return Promise.reject(this.#signal.reason);
    }
    return this.#session.start();
  }

  instance(): Instance | undefined {
    return this.#session.instance;
  }

  instances(...services: string[]): Promise<Instance[]> {
    return this.#discovery.instances(services);
  }

  allInstances(...services: string[]): Promise<Instance[]> {
    return this.#discovery.allInstances(services);
  }

  setStatus(status: HealthStatus): void {
    this.#session.setStatus(status);
  }

  get status(): InstanceStatus {
    return this.#session.status;
  }

  drain(options: DrainOptions = {}): Promise<void> {
    return this.#stopping ?? this.#session.drain(options);
  }

  setMaintenance(on: boolean, options: MaintenanceOptions = {}): Promise<void> {
    return this.#session.setMaintenance(on, options);
  }

  services(): Promise<string[]> {
    return this.driver.services(this.env);
  }

  stop(): Promise<void> {
    this.#session.beginStop();
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#signal?.removeEventListener("abort", this.#onAbort);
    const { stopTimeout } = this.#options;
    try {
      // Leadership ends, and the backend hears of it, before the
      // registration is released: never two leaders at once.
      await withDeadline(
        this.#election.resignAll("the registry stopped"),
        stopTimeout,
        this.#clock,
        () => new TimeoutError("resign", stopTimeout),
      ).catch(() => {});
      await this.#session.close();
    } finally {
      await this.#messenger.close();
      await this.#discovery.close();
      this.#metrics.view(undefined);
    }
  }

  get viewState(): ViewState | undefined {
    return this.#discovery.viewState;
  }

  watch(
    service?: string,
    options: WatchOptions = {},
  ): AsyncGenerator<WatchEvent, void, undefined> {
    return this.#discovery.watch(service, options);
  }

  leader(service?: string): Promise<Instance | undefined> {
    return this.#election.leader(this.#serviceName(service));
  }

  leaderChanges(
    service?: string,
    options: StreamOptions = {},
  ): AsyncGenerator<LeaderChange, void, undefined> {
    return this.#election.leaderChanges(
      this.#serviceName(service),
      options.signal,
    );
  }

  standby(
    options: StreamOptions & { releaseTimeout?: Duration } = {},
  ): Promise<Leadership> {
    try {
      const service = this.#runningService("stand by for leadership");
      return this.#election.standby(service, {
        signal: options.signal,
        releaseTimeout: options.releaseTimeout === undefined
          ? undefined
          : parseDuration(options.releaseTimeout, "releaseTimeout"),
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  lead<T>(
    work: (leadership: Leadership) => Promise<T>,
    options: StreamOptions & { releaseTimeout?: Duration } = {},
  ): Promise<T> {
    try {
      const service = this.#runningService("stand by for leadership");
      return this.#election.lead(service, work, {
        signal: options.signal,
        releaseTimeout: options.releaseTimeout === undefined
          ? this.ttl
          : parseDuration(options.releaseTimeout, "releaseTimeout"),
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  waitFor(
    service: string,
    options: WaitForOptions = {},
  ): Promise<Instance[]> {
    return this.#discovery.waitFor(service, options);
  }

  select(
    service: string,
    selector: Selector & { excludeSelf?: boolean } = {},
  ): Promise<Instance[]> {
    return this.#discovery.select(service, selector);
  }

  pick(
    service: string,
    picker: Picker,
    selector: Selector & { excludeSelf?: boolean } = {},
  ): Promise<Instance | undefined> {
    return this.#discovery.pick(service, picker, selector);
  }

  quorum(service: string, expected: number): Promise<QuorumState> {
    return this.#discovery.quorum(service, expected);
  }

  quorumChanges(
    service: string,
    expected: number,
    options: StreamOptions = {},
  ): AsyncGenerator<QuorumState, void, undefined> {
    return this.#discovery.quorumChanges(service, expected, options.signal);
  }

  broadcast(service: string, data: unknown): Promise<number> {
    return this.#messenger.broadcast(service, data);
  }

  send(id: string, data: unknown): Promise<number> {
    return this.#messenger.send(id, data);
  }

  onMessage(
    handler: (message: Message) => void,
  ): Promise<() => Promise<void>> {
    return this.#messenger.onMessage(handler);
  }

  messages(
    options: StreamOptions = {},
  ): AsyncGenerator<Message, void, undefined> {
    return this.#messenger.messages(options);
  }

  get droppedMessages(): number {
    return this.#messenger.dropped;
  }

  /** This registry's service, while it runs; throws otherwise. */
  #runningService(action: string): string {
    const state = this.#session.state;
    if (state !== "running" || !this.service) {
      throw new RegistryStateError(
        `Cannot ${action}: the registry is ${state}; call start() first`,
      );
    }
    return this.service;
  }

  #serviceName(service: string | undefined): string {
    const name = service ?? this.service;
    if (name === undefined) {
      throw new ConfigError(
        "Missing 'service': this registry has no service of its own, so name one",
        { field: "service" },
      );
    }
    return validateName("service", name);
  }

  /**
   * Stops the registry; `await using` calls this.
   *
   * @returns A promise that resolves when stopped.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  #onAbort = (): void => {
    this.stop();
  };
}
