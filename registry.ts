/**
 * The registry: registers this process, keeps it alive, removes it on stop,
 * and lists the live instances of any service.
 *
 * @module
 */

import type { Attributes } from "@opentelemetry/api";
import { sleepUnlessAborted, withDeadline } from "./_deadline.ts";
import { EventEmitter } from "./_event_emitter.ts";
import { errorMessage, logger } from "./_logger.ts";
import { registryInstruments, traced } from "./_telemetry.ts";
import { type Clock, monotonicNow, systemClock } from "./clock.ts";
import type { Picker } from "./discovery/pickers.ts";
import {
  quorumChanges,
  type QuorumState,
  quorumState,
} from "./discovery/quorum.ts";
import { selectInstances, type Selector } from "./discovery/select.ts";
import { ChangeFeed, sortedView, type ViewState } from "./discovery/view.ts";
import type { ProtectionChange } from "./discovery/eviction_protection.ts";
import { waitForInstances, type WaitForOptions } from "./discovery/wait_for.ts";
import {
  type WatchEvent,
  watchFeed,
  type WatchOptions,
} from "./discovery/watch.ts";
import type { Driver, Registration } from "./driver/driver.ts";
import { type Duration, formatDuration, parseDuration } from "./duration.ts";
import { Election } from "./election/election.ts";
import type { LeaderChange, Leadership } from "./election/leadership.ts";
import { ConfigError, RegistryStateError, TimeoutError } from "./errors.ts";
import {
  attachHealth,
  HealthCheck,
  type HealthCheckEvents,
  type HealthCheckOptions,
} from "./heartbeat/health_check.ts";
import {
  type HeartbeatEvents,
  HeartbeatLoop,
  type HeartbeatState,
} from "./heartbeat/heartbeat_loop.ts";
import {
  defaultInstanceId,
  type HealthStatus,
  type Instance,
  type InstanceStatus,
  takesWork,
  validateName,
} from "./instance.ts";
import type { Message } from "./messaging/message.ts";
import { Messenger } from "./messaging/messenger.ts";
import {
  type RegistryOptions,
  type ResolvedOptions,
  resolveRegistryOptions,
  validateStatus,
} from "./registry_options.ts";

const log = logger("registry");

/** Where a registry is in its life. */
export type RegistryState =
  | "idle"
  | "starting"
  | "running"
  | "stopping"
  | "stopped";

/** Every event a registry reports, by name. */
export interface RegistryEvents extends HeartbeatEvents {
  /** `start()` registered this instance. */
  registered: { instance: Instance };
  /** `drain()` began: the instance is `draining`, and leaves after `linger` ms. */
  draining: { linger: number };
  /** Maintenance turned on (until `until`, by this process's clock) or off. */
  maintenance: { on: boolean; until?: number; reason?: string };
  /**
   * The eviction safety valve of this registry's view held a service's
   * expiries (`on`), or stopped holding them: its instances beat again, or
   * the bound passed and `held` expired.
   */
  protection: ProtectionChange;
  /** `stop()` finished; `removed` tells whether the backend entry was deleted. */
  deregistered: { removed: boolean; error?: unknown };
  /** The local view went `live` or `stale` (only while watching or caching). */
  view: { state: ViewState; error?: unknown };
  /** The `health` check ran; `warning` says why it warns, `error` why it failed. */
  health_check: HealthCheckEvents["check"];
}

/** Options for the streams of changes a registry offers. */
export interface StreamOptions {
  /** Ends the stream. */
  signal?: AbortSignal;
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

/** How long maintenance lasts when `setMaintenance` is given no ttl. */
export const DEFAULT_MAINTENANCE_TTL_MS = 3_600_000;

/** Options for {@linkcode Registry.drain}. */
export interface DrainOptions {
  /**
   * How long the instance stays listed as `draining` before it deregisters
   * (or, with `stop: false`, before `drain()` returns): the time clients
   * need to notice and send it no new work. 0 by default.
   */
  linger?: Duration;
  /** Whether to stop (deregister) once the linger is over; true by default. */
  stop?: boolean;
}

/** Options for {@linkcode Registry.setMaintenance}. */
export interface MaintenanceOptions {
  /**
   * How long maintenance lasts unless turned off before: a tool that
   * crashed cannot leave it on for ever. One hour by default.
   */
  ttl?: Duration;
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
export class Registry implements AsyncDisposable {
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
  readonly #healthOptions: HealthCheckOptions | undefined;
  readonly #events = new EventEmitter<RegistryEvents>();
  #state: RegistryState = "idle";
  #registration: Registration | undefined;
  #instance: Instance | undefined;
  #loop: HeartbeatLoop | undefined;
  #starting: Promise<Instance> | undefined;
  #stopping: Promise<void> | undefined;
  #feed: ChangeFeed | undefined;
  #health: HealthCheck | undefined;
  #detachHealth: (() => void) | undefined;
  /** When the last heartbeat the backend accepted was sent. */
  #beatSentAt = 0;
  /** What the health check (or `setStatus`) says of this process. */
  #healthStatus: HealthStatus;
  /** Set by `drain()` or `setMaintenance()`; it outranks the health. */
  #override: "draining" | "maintenance" | undefined;
  #maintenanceTimer: unknown;
  #draining: Promise<void> | undefined;
  /** Aborted when `stop()` is called, to cut a drain's linger short. */
  readonly #stopCalled = new AbortController();
  readonly #election: Election;
  readonly #messenger: Messenger;
  readonly #instruments = registryInstruments();
  readonly #attributes: Attributes;
  #viewState: ViewState | undefined;

  /**
   * Creates a registry. Every option is validated here, so a bad value fails
   * at once with a {@linkcode ConfigError} that names it.
   *
   * @param options The service, timing, driver and other options.
   * @throws {ConfigError} When an option is invalid.
   */
  constructor(options: RegistryOptions = {}) {
    this.#options = resolveRegistryOptions(options);
    const driver = options.driver ?? defaultDriver?.();
    if (!driver) {
      throw new ConfigError(
        "Missing 'driver': pass one, such as { driver: new MemoryDriver() }, or import Registry from the package's main entry point, which defaults to the memory driver",
        { field: "driver" },
      );
    }
    this.driver = driver;
    this.#clock = options.clock ?? systemClock;
    this.#signal = options.signal;
    this.#healthOptions = options.health;
    this.#healthStatus = this.#options.status;
    this.service = this.#options.service;
    this.env = this.#options.env;
    this.heartbeatInterval = this.#options.heartbeatInterval;
    this.ttl = this.#options.ttl;
    this.id = this.service === undefined ? undefined : this.#options.id ??
      defaultInstanceId(this.service, this.#options.hostname);
    this.#attributes = {
      "roster.env": this.env,
      "roster.driver": this.driver.name,
      ...(this.service === undefined ? {} : { "roster.service": this.service }),
    };
    this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
    this.#election = new Election({
      driver: this.driver,
      clock: this.#clock,
      leaseMs: this.ttl - this.#options.heartbeatTimeout,
      retryMs: Math.min(250, this.heartbeatInterval),
      feed: () => this.#watching(),
      current: () =>
        this.#state === "running" && this.#registration && this.#instance
          ? {
            registration: this.#registration,
            instance: this.#instance,
            beatSentAt: this.#beatSentAt,
            takesWork: takesWork({ status: this.#wantedStatus() }),
          }
          : undefined,
      on: (type, listener) => this.on(type, listener as () => void),
      leadershipChanged: (service, change) =>
        this.#instruments.leaderChanges.add(1, {
          ...this.#attributes,
          "roster.service": service,
          change,
        }),
    });
    this.#recordMetrics();
    this.#messenger = new Messenger({
      driver: this.driver,
      env: this.env,
      clock: this.#clock,
      maxMessageBytes: this.#options.maxMessageBytes,
      id: this.id,
      self: () =>
        this.#state === "running" && this.id && this.service
          ? { id: this.id, service: this.service }
          : undefined,
      state: () => this.#state,
    });
  }

  /** Where the registry is in its life. */
  get state(): RegistryState {
    return this.#state;
  }

  /** How the heartbeat fares; `healthy` before start and after stop. */
  get heartbeatState(): HeartbeatState {
    return this.#loop?.state ?? "healthy";
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

  /**
   * Registers this instance and starts heartbeats. If registration fails,
   * nothing stays registered and the error is thrown.
   *
   * @returns The instance as the backend recorded it.
   * @throws {ConfigError} When the registry has no `service`.
   * @throws {AlreadyRegisteredError} When another live owner holds the id.
   * @throws {RegistryStateError} When called twice, or after `stop()`.
   *
   * @example
   * ```ts
   * import { Registry } from "@roster/roster";
   * import assert from "node:assert/strict";
   *
   * await using registry = new Registry({ service: "worker" });
   * const instance = await registry.start();
   * assert.equal(instance.service, "worker");
   * ```
   */
  start(): Promise<Instance> {
    if (this.#state !== "idle") {
      return Promise.reject(
        new RegistryStateError(
          `Cannot start: the registry is ${this.#state}; create a new Registry to register again`,
        ),
      );
    }
    if (this.service === undefined || this.id === undefined) {
      return Promise.reject(
        new ConfigError(
          "Cannot start: no 'service' was given; pass one, such as { service: \"api\" }, to register this process",
          { field: "service" },
        ),
      );
    }
    if (this.#signal?.aborted) {
      this.#state = "stopped";
      return Promise.reject(this.#signal.reason);
    }
    this.#state = "starting";
    const registration: Registration = {
      id: this.id,
      service: this.service,
      env: this.env,
      version: this.#options.version,
      addr: this.#options.addr,
      meta: this.#options.meta,
      hostname: this.#options.hostname,
      pid: this.#options.pid,
      status: this.status,
      owner: crypto.randomUUID(),
      ttl: this.ttl,
      heartbeatInterval: this.heartbeatInterval,
      weight: this.#options.weight,
    };
    this.#registration = registration;
    this.#starting = this.#register(registration);
    return this.#starting;
  }

  async #register(registration: Registration): Promise<Instance> {
    let instance: Instance;
    try {
      // Registering happens once and may be a connection's first command
      // (a script to load): it gets up to a ttl, within five seconds, and
      // never less than two heartbeat timeouts.
      const timeout = Math.max(
        this.#options.heartbeatTimeout * 2,
        Math.min(this.ttl, 5_000),
      );
      this.#beatSentAt = monotonicNow(this.#clock);
      instance = await withDeadline(
        traced(
          "roster.register",
          this.#spanAttributes(),
          () => this.driver.register(registration),
        ),
        timeout,
        this.#clock,
        () => new TimeoutError("register", timeout),
      );
    } catch (error) {
      this.#state = "stopped";
      // A register that timed out may still land; remove it so nothing
      // stays half-registered. The owner token makes this safe.
      this.driver.deregister(registration).catch(() => {});
      throw error;
    }
    this.#instance = instance;
    if (this.#stopping) return instance;
    this.#state = "running";
    this.#loop = new HeartbeatLoop({
      driver: this.driver,
      registration,
      instance,
      interval: this.heartbeatInterval,
      timeout: this.#options.heartbeatTimeout,
      clock: this.#clock,
      emit: <K extends keyof HeartbeatEvents>(
        type: K,
        event: HeartbeatEvents[K],
      ) => {
        if (type === "reregistered") {
          this.#instance = (event as RegistryEvents["reregistered"]).instance;
        } else if (type === "heartbeat") {
          const beat = event as RegistryEvents["heartbeat"];
          this.#instance = beat.instance;
          this.#beatSentAt = monotonicNow(this.#clock) - beat.latency;
        }
        this.#events.emit(type, event as RegistryEvents[K]);
      },
    });
    this.#loop.start();
    if (this.#healthOptions) {
      this.#health = new HealthCheck({
        ...this.#healthOptions,
        clock: this.#clock,
      });
      const detach = attachHealth(
        this.#health,
        (status) => this.setStatus(status),
      );
      const offCheck = this.#health.on(
        "check",
        (check) => this.#events.emit("health_check", check),
      );
      this.#detachHealth = () => {
        detach();
        offCheck();
      };
      this.#health.start();
    }
    log.info(
      "Registered {id} (service {service}, env {env}) on {driver}; heartbeat every {interval}, ttl {ttl}",
      {
        id: instance.id,
        service: instance.service,
        env: instance.env,
        driver: this.driver.name,
        interval: formatDuration(this.heartbeatInterval),
        ttl: formatDuration(this.ttl),
      },
    );
    this.#events.emit("registered", { instance });
    return instance;
  }

  /**
   * The current snapshot of this instance, as of the last successful
   * registration or heartbeat.
   *
   * @returns The instance, or undefined before `start()` has succeeded.
   *
   * @example
   * ```ts
   * import { Registry } from "@roster/roster";
   * import assert from "node:assert/strict";
   *
   * await using registry = new Registry({ service: "api" });
   * assert.equal(registry.instance(), undefined);
   * await registry.start();
   * assert.equal(registry.instance()?.service, "api");
   * ```
   */
  instance(): Instance | undefined {
    return this.#instance;
  }

  /**
   * Lists the live instances of the named services, or of every service in
   * the env when none is named, oldest registration first.
   *
   * @param services Service names; none means all.
   * @returns The live instances.
   * @throws {ConfigError} When a service name is invalid.
   *
   * @example
   * ```ts
   * import { Registry } from "@roster/roster";
   * import assert from "node:assert/strict";
   *
   * await using discovery = new Registry();
   * assert.ok(Array.isArray(await discovery.instances("api", "worker")));
   * ```
   */
  async instances(...services: string[]): Promise<Instance[]> {
    if (this.#options.cache && services.length <= 1) {
      for (const service of services) validateName("service", service);
      const feed = this.#watching();
      await feed.ready();
      return sortedView(feed, services[0]);
    }
    return (await this.allInstances(...services)).filter(takesWork);
  }

  /**
   * Lists the live instances, unhealthy ones included, oldest first.
   *
   * @param services Service names; none means all.
   * @returns The live instances, healthy or not.
   *
   * @example
   * ```ts
   * import { Registry } from "@roster/roster";
   * import assert from "node:assert/strict";
   *
   * await using registry = new Registry({ service: "api", env: "all-doc", status: "unhealthy" });
   * await registry.start();
   * assert.equal((await registry.instances("api")).length, 0);
   * assert.equal((await registry.allInstances("api")).length, 1);
   * ```
   */
  async allInstances(...services: string[]): Promise<Instance[]> {
    for (const service of services) validateName("service", service);
    if (!this.#options.cache) {
      const listed = await this.driver.list({ env: this.env, services });
      return this.#withProtected(listed, services);
    }
    const feed = this.#watching();
    await feed.ready();
    const wanted = new Set(services);
    return sortedView(feed, undefined, true).filter((i) =>
      !wanted.size || wanted.has(i.service)
    );
  }

  /**
   * Adds to a listing the instances the view's eviction safety valve holds:
   * the backend expired them, but the view keeps them for a while.
   */
  #withProtected(listed: Instance[], services: string[]): Instance[] {
    const held = this.#feed?.protectedInstances() ?? [];
    if (held.length === 0) return listed;
    const ids = new Set(listed.map((i) => i.id));
    const added = held.filter((i) =>
      !ids.has(i.id) && (services.length === 0 || services.includes(i.service))
    );
    return added.length === 0
      ? listed
      : [...listed, ...added].sort((a, b) => a.seq - b.seq);
  }

  /**
   * Sets what this instance's health is, at once (one heartbeat): `healthy`,
   * `warning` (still listed and eligible, with a tenth of its weight) or
   * `unhealthy` (stays registered, but listings, pickers, elections and
   * waits leave it out). While draining or in maintenance the new health is
   * kept and shows once that ends.
   *
   * @param status The new health.
   * @throws {ConfigError} For a status other than `healthy`, `warning` or
   *   `unhealthy`.
   *
   * @example
   * ```ts
   * import { Registry } from "@roster/roster";
   *
   * await using registry = new Registry({ service: "api", env: "status-doc" });
   * await registry.start();
   * registry.setStatus("warning"); // degraded: fewer picks
   * ```
   */
  setStatus(status: HealthStatus): void {
    this.#healthStatus = validateStatus("status", status);
    this.#publishStatus();
  }

  /** The status this instance registers and beats with. */
  get status(): InstanceStatus {
    return this.#registration?.status ?? this.#wantedStatus();
  }

  #wantedStatus(): InstanceStatus {
    return this.#override ?? this.#healthStatus;
  }

  /**
   * Puts the status in the registration and beats at once. An instance that
   * no longer takes work stops leading first, and the backend hears of the
   * new status only once leadership is released (after the leader's work
   * returned, with `releaseTimeout`): never two leaders at once.
   */
  #publishStatus(): void {
    const status = this.#wantedStatus();
    const resigned = takesWork({ status })
      ? Promise.resolve()
      : this.#election.resignAll(
        status === "unhealthy"
          ? "the instance turned unhealthy"
          : `the instance is ${
            status === "draining" ? "draining" : "in maintenance"
          }`,
      );
    resigned.then(() => {
      // The latest wish, should it have changed meanwhile.
      if (this.#registration) {
        this.#registration.status = this.#wantedStatus();
      }
      this.#loop?.beatNow();
    });
  }

  /**
   * Resolves once a heartbeat recorded `status`, the registry stopped, or a
   * ttl passed (the backend may be down; the beat goes on being retried).
   */
  #statusRecorded(status: InstanceStatus): Promise<boolean> {
    if (this.#state !== "running") return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (recorded: boolean) => {
        offBeat();
        offStop();
        this.#clock.clearTimeout(timer);
        resolve(recorded);
      };
      const offBeat = this.on("heartbeat", ({ instance }) => {
        if (instance.status === status) done(true);
      });
      const offStop = this.on("deregistered", () => done(false));
      const timer = this.#clock.setTimeout(() => done(false), this.ttl);
    });
  }

  /**
   * Drains this instance before it leaves: it is marked `draining` (the
   * backend records it before this goes on), so it stays listed for
   * `allInstances()`, `roster list` and the dashboard while pickers,
   * `instances()`, waits and elections skip it, and it gives up leadership;
   * after `linger` it deregisters. Calling it again returns the same drain;
   * `stop()` cuts the linger short.
   *
   * @param options How long to linger, and whether to stop afterwards.
   * @returns A promise that resolves once the linger is over (and the
   *   registry stopped, unless `stop` is false).
   * @throws {RegistryStateError} Before `start()`.
   *
   * @example
   * ```ts
   * import { Registry } from "@roster/roster";
   * import assert from "node:assert/strict";
   *
   * await using registry = new Registry({ service: "api", env: "drain-doc" });
   * await registry.start();
   * await registry.drain({ linger: "10ms", stop: false });
   * assert.equal(registry.status, "draining");
   * assert.equal((await registry.instances("api")).length, 0);
   * assert.equal((await registry.allInstances("api")).length, 1);
   * await registry.stop();
   * ```
   */
  drain(options: DrainOptions = {}): Promise<void> {
    let linger: number;
    try {
      linger = parseDuration(options.linger ?? 0, "linger", "ms", true);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#stopping) return this.#stopping;
    if (this.#state !== "running") {
      return Promise.reject(
        new RegistryStateError(
          `Cannot drain: the registry is ${this.#state}; call start() first`,
        ),
      );
    }
    this.#draining ??= this.#drain(linger, options.stop ?? true);
    return this.#draining;
  }

  async #drain(linger: number, stop: boolean): Promise<void> {
    this.#endMaintenanceTimer();
    this.#override = "draining";
    log.info("Draining {id}: it takes no new work and leaves in {linger}", {
      id: this.id,
      linger: formatDuration(linger),
    });
    const recorded = this.#statusRecorded("draining");
    this.#publishStatus();
    this.#events.emit("draining", { linger });
    await recorded;
    await sleepUnlessAborted(this.#clock, linger, this.#stopCalled.signal);
    if (stop) await this.stop();
  }

  /**
   * Turns maintenance on or off. In maintenance the instance stays
   * registered and listed for operators (status `maintenance`) but takes no
   * work, like `unhealthy`, whatever its health check says; it gives up
   * leadership. Maintenance ends by itself after `ttl`, so a tool that
   * crashed cannot leave an instance out of service for ever.
   *
   * @param on Whether maintenance is on.
   * @param options How long it lasts (one hour by default).
   * @returns A promise that resolves once the backend recorded the status
   *   (or a ttl passed while it could not be reached).
   * @throws {RegistryStateError} When not running, or when turning it on
   *   while draining.
   * @throws {ConfigError} For a `ttl` that is not a duration of at least 1 ms.
   *
   * @example
   * ```ts
   * import { Registry } from "@roster/roster";
   * import assert from "node:assert/strict";
   *
   * await using registry = new Registry({ service: "api", env: "maint-doc" });
   * await registry.start();
   * await registry.setMaintenance(true, { ttl: "10m" });
   * assert.equal(registry.status, "maintenance");
   * await registry.setMaintenance(false);
   * assert.equal(registry.status, "healthy");
   * ```
   */
  async setMaintenance(
    on: boolean,
    options: MaintenanceOptions = {},
  ): Promise<void> {
    const ttl = parseDuration(
      options.ttl ?? DEFAULT_MAINTENANCE_TTL_MS,
      "ttl",
    );
    if (this.#state !== "running") {
      throw new RegistryStateError(
        `Cannot ${
          on ? "enter" : "leave"
        } maintenance: the registry is ${this.#state}; call start() first`,
      );
    }
    if (this.#override === "draining") {
      if (!on) return;
      throw new RegistryStateError(
        "Cannot enter maintenance: the instance is draining and about to leave",
      );
    }
    this.#endMaintenanceTimer();
    if (on) {
      const until = this.#clock.now() + ttl;
      this.#maintenanceTimer = this.#clock.setTimeout(() => {
        this.#maintenanceTimer = undefined;
        log.info("Maintenance of {id} ended: its ttl ({ttl}) passed", {
          id: this.id,
          ttl: formatDuration(ttl),
        });
        this.#setOverride(undefined, "its ttl passed");
      }, ttl);
      log.info("{id} is in maintenance for {ttl}", {
        id: this.id,
        ttl: formatDuration(ttl),
      });
      await this.#setOverride("maintenance", undefined, until);
    } else if (this.#override === "maintenance") {
      log.info("{id} left maintenance", { id: this.id });
      await this.#setOverride(undefined, "turned off");
    }
  }

  async #setOverride(
    override: "maintenance" | undefined,
    reason?: string,
    until?: number,
  ): Promise<void> {
    if (this.#override === "draining") return;
    this.#override = override;
    const recorded = this.#statusRecorded(this.#wantedStatus());
    this.#publishStatus();
    this.#events.emit("maintenance", {
      on: override !== undefined,
      ...(until === undefined ? {} : { until }),
      ...(reason === undefined ? {} : { reason }),
    });
    await recorded;
  }

  #endMaintenanceTimer(): void {
    if (this.#maintenanceTimer === undefined) return;
    this.#clock.clearTimeout(this.#maintenanceTimer);
    this.#maintenanceTimer = undefined;
  }

  /**
   * Lists the names of services with at least one live instance in the env.
   *
   * @returns Sorted service names.
   *
   * @example
   * ```ts
   * import { Registry } from "@roster/roster";
   * import assert from "node:assert/strict";
   *
   * await using registry = new Registry({ service: "billing", env: "docs" });
   * await registry.start();
   * assert.deepEqual(await registry.services(), ["billing"]);
   * ```
   */
  services(): Promise<string[]> {
    return this.driver.services(this.env);
  }

  /**
   * Stops heartbeats and deregisters. Idempotent: later calls return the
   * same promise. Bounded by `stopTimeout`; if the backend cannot be reached
   * by then, it resolves anyway and the entry expires after its ttl. Never
   * rejects.
   *
   * @returns A promise that resolves when stopped.
   *
   * @example
   * ```ts
   * import { Registry } from "@roster/roster";
   *
   * const registry = new Registry({ service: "api" });
   * await registry.start();
   * await registry.stop();
   * await registry.stop(); // no-op
   * ```
   */
  stop(): Promise<void> {
    this.#stopCalled.abort();
    this.#endMaintenanceTimer();
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#signal?.removeEventListener("abort", this.#onAbort);
    try {
      // Leadership ends, and the backend hears of it, before the
      // registration is released: never two leaders at once.
      await withDeadline(
        this.#election.resignAll("the registry stopped"),
        this.#options.stopTimeout,
        this.#clock,
        () => new TimeoutError("resign", this.#options.stopTimeout),
      ).catch(() => {});
      this.#detachHealth?.();
      await this.#health?.stop();
      await this.#deregister();
    } finally {
      await this.#messenger.close();
      await this.#feed?.close();
      this.#setViewState(undefined);
    }
  }

  async #deregister(): Promise<void> {
    if (this.#state === "idle" || this.#state === "stopped") {
      this.#state = "stopped";
      return;
    }
    this.#state = "stopping";
    const registration = this.#registration as Registration;
    let removed = false;
    let error: unknown;
    try {
      removed = await withDeadline(
        (async () => {
          await this.#starting?.catch(() => {});
          await this.#loop?.stop();
          return await traced(
            "roster.deregister",
            this.#spanAttributes(),
            () => this.driver.deregister(registration),
          );
        })(),
        this.#options.stopTimeout,
        this.#clock,
        () => new TimeoutError("stop", this.#options.stopTimeout),
      );
    } catch (caught) {
      error = caught;
      this.#loop?.stop();
      log.warn(
        "Could not deregister {id}: {error}; the entry expires within its ttl ({ttl})",
        {
          id: registration.id,
          error: errorMessage(error),
          ttl: formatDuration(this.ttl),
        },
      );
    }
    this.#state = "stopped";
    if (removed) log.info("Deregistered {id}", { id: registration.id });
    this.#events.emit("deregistered", { removed, error });
  }

  #spanAttributes(): Attributes {
    return { ...this.#attributes, "roster.instance.id": this.id ?? "" };
  }

  #recordMetrics(): void {
    const {
      heartbeats,
      heartbeatFailures,
      heartbeatDuration,
      reregistrations,
    } = this.#instruments;
    const attributes = this.#attributes;
    this.on("heartbeat", ({ latency }) => {
      heartbeats.add(1, attributes);
      heartbeatDuration.record(latency / 1000, attributes);
    });
    this.on("heartbeat_failed", () => heartbeatFailures.add(1, attributes));
    this.on("reregistered", () => reregistrations.add(1, attributes));
    this.on("view", ({ state }) => this.#setViewState(state));
  }

  #setViewState(state: ViewState | undefined): void {
    if (state === this.#viewState) return;
    const { views } = this.#instruments;
    if (this.#viewState) {
      views.add(-1, { ...this.#attributes, state: this.#viewState });
    }
    if (state) views.add(1, { ...this.#attributes, state });
    this.#viewState = state;
  }

  /**
   * Whether the local view follows the backend: `live`, `stale` (the backend
   * cannot be reached; the last known instances are kept), or `connecting`.
   * Undefined until something watches (or `cache` is on and something lists).
   */
  get viewState(): ViewState | undefined {
    return this.#feed?.state;
  }

  /**
   * Follows the live instances of a service, or of every service in the env:
   * `join`, `update` (registered again with a new `seq`) and `leave` events,
   * with the reason (a `leave` tells `deregistered` from `expired`). No
   * change is reported twice, and none is lost: after a gap in the backend's
   * change log the watcher reports what it missed, found by comparison.
   *
   * @param service One service, or every service when undefined.
   * @param options `current` to start with the live instances; a signal to end.
   * @returns An async iterable of events; leaving the loop ends the watch.
   *
   * @example
   * ```ts
   * import { Registry } from "@roster/roster";
   * import assert from "node:assert/strict";
   *
   * await using registry = new Registry({ service: "api", env: "watch-doc" });
   * await registry.start();
   * for await (const event of registry.watch("api", { current: true })) {
   *   assert.equal(event.type, "join");
   *   break;
   * }
   * ```
   */
  watch(
    service?: string,
    options: WatchOptions = {},
  ): AsyncGenerator<WatchEvent, void, undefined> {
    if (service !== undefined) validateName("service", service);
    return watchFeed(this.#watching(), service, options);
  }

  /**
   * The leader of a service: its oldest live instance, by the `seq` the
   * backend assigned.
   *
   * @param service The service; this registry's own by default.
   * @returns The leader, or undefined when none is live.
   *
   * @example
   * ```ts
   * import { Registry } from "@roster/roster";
   * import assert from "node:assert/strict";
   *
   * await using registry = new Registry({ service: "api", env: "leader-doc" });
   * const me = await registry.start();
   * assert.equal((await registry.leader())?.id, me.id);
   * ```
   */
  leader(service?: string): Promise<Instance | undefined> {
    return this.#election.leader(this.#serviceName(service));
  }

  /**
   * Streams the leader of a service: first the current one, then each new
   * one as leadership moves.
   *
   * @param service The service; this registry's own by default.
   * @param options A signal that ends the stream.
   * @returns An async iterable of leader changes.
   */
  leaderChanges(
    service?: string,
    options: StreamOptions = {},
  ): AsyncGenerator<LeaderChange, void, undefined> {
    return this.#election.observe(this.#serviceName(service), options.signal);
  }

  /**
   * Waits until this process leads its service, by an election the backend
   * decides: it grants a term (the fencing number, greater than every term
   * before) when this instance is the oldest live one that takes work and
   * the last leader's lease is over. The leadership's signal aborts, with a
   * {@linkcode LeadershipLostError} saying why, when leadership ends: an
   * older instance takes work again, its lease may have run out, it
   * re-registered, it stopped taking work (unhealthy, draining,
   * maintenance), or the registry stopped; call `leadership.assertValid()`
   * just before each side effect, and `leadership.release()` when done.
   * Call `standby()` again to wait for the next term.
   *
   * With `releaseTimeout`, a leadership that ends early reaches the backend
   * only once `leadership.release()` is called (the work returned) or the
   * timeout passed, so no successor is granted a term while the work may
   * still run, as Kubernetes' ReleaseOnCancel.
   *
   * @param options A signal that ends the wait early, and how long a lost
   *   leadership's release may wait for `release()`.
   * @returns The leadership.
   * @throws {RegistryStateError} When this registry is not running.
   *
   * @example
   * ```ts
   * import { Registry } from "@roster/roster";
   * import assert from "node:assert/strict";
   *
   * await using registry = new Registry({ service: "cron", env: "standby-doc" });
   * await registry.start();
   * const leadership = await registry.standby();
   * assert.ok(leadership.term > 0);
   * leadership.assertValid(); // just before leader-only work
   * ```
   */
  async standby(
    options: StreamOptions & { releaseTimeout?: Duration } = {},
  ): Promise<Leadership> {
    if (this.#state !== "running" || !this.service || !this.id) {
      throw new RegistryStateError(
        `Cannot stand by for leadership: the registry is ${this.#state}; call start() first`,
      );
    }
    const bound = options.releaseTimeout === undefined
      ? undefined
      : parseDuration(options.releaseTimeout, "releaseTimeout");
    const leadership = await this.#election.campaign(this.service, options);
    if (bound !== undefined) {
      this.#election.holdUntilReleased(leadership, bound);
    }
    return leadership;
  }

  /**
   * Leads, runs `work`, and releases leadership only once `work` returns:
   * when leadership ends early (this registry stops, its lease may have run
   * out, an older instance is healthy again) `leadership.signal` aborts at
   * once with a {@linkcode LeadershipLostError} saying why, and the backend
   * hears of the release only after `work` settles, or `releaseTimeout`
   * passed, so no other instance is granted a term while this one's work may
   * still run. `stop()` waits for that too, within its `stopTimeout`. The
   * same as `standby({ releaseTimeout })`, then `work`, then
   * `leadership.release()`.
   *
   * @param work The leader's work; watch `leadership.signal`.
   * @param options A signal that ends the wait to lead, and the longest the
   *   release waits for `work` (default: the ttl).
   * @returns What `work` returns.
   * @throws {RegistryStateError} When the registry stops before leading.
   *
   * @example
   * ```ts
   * import { Registry } from "@roster/roster";
   * import assert from "node:assert/strict";
   *
   * await using registry = new Registry({ service: "cron", env: "lead-doc" });
   * await registry.start();
   * const ran = await registry.lead(async (leadership) => {
   *   leadership.assertValid();
   *   return "done";
   * });
   * assert.equal(ran, "done");
   * ```
   */
  async lead<T>(
    work: (leadership: Leadership) => Promise<T>,
    options: StreamOptions & { releaseTimeout?: Duration } = {},
  ): Promise<T> {
    const leadership = await this.standby({
      ...options,
      releaseTimeout: options.releaseTimeout ?? this.ttl,
    });
    try {
      return await work(leadership);
    } finally {
      // Done leading: release now, so a standby need not wait for a lease.
      await leadership.release();
    }
  }

  /**
   * Waits until at least `min` instances of a service are live.
   *
   * @param service The service.
   * @param options How many, how long, which, and a signal to stop waiting.
   * @returns The live (matching) instances, oldest first, once there are enough.
   * @throws {WaitForTimeoutError} When the timeout runs out first.
   *
   * @example
   * ```ts
   * import { Registry, WaitForTimeoutError } from "@roster/roster";
   * import assert from "node:assert/strict";
   *
   * await using registry = new Registry({ env: "wait-doc" });
   * await assert.rejects(
   *   registry.waitFor("db", { min: 2, timeout: "50ms" }),
   *   WaitForTimeoutError,
   * );
   * ```
   */
  waitFor(
    service: string,
    options: WaitForOptions = {},
  ): Promise<Instance[]> {
    validateName("service", service);
    return waitForInstances(
      this.#watching(),
      service,
      options,
      this.#clock,
      () => new RegistryStateError("waitFor ended: the registry stopped"),
    );
  }

  /**
   * Selects live instances of a service by meta, version, and id.
   *
   * @param service The service.
   * @param selector What must hold; `excludeSelf` leaves this instance out.
   * @returns The matching live instances, oldest first.
   *
   * @example
   * ```ts
   * import { Registry } from "@roster/roster";
   * import assert from "node:assert/strict";
   *
   * await using registry = new Registry({ service: "api", env: "select-doc", meta: { zone: "eu" } });
   * await registry.start();
   * assert.equal((await registry.select("api", { meta: { zone: "eu" } })).length, 1);
   * assert.equal((await registry.select("api", { excludeSelf: true })).length, 0);
   * ```
   */
  async select(
    service: string,
    selector: Selector & { excludeSelf?: boolean } = {},
  ): Promise<Instance[]> {
    const exclude = [...selector.exclude ?? []];
    if (selector.excludeSelf && this.id) exclude.push(this.id);
    return selectInstances(await this.instances(service), {
      ...selector,
      exclude,
    });
  }

  /**
   * Picks one live instance of a service with a picker, among those that
   * match the selector.
   *
   * @param service The service.
   * @param picker A `RoundRobinPicker`, a `RandomPicker`, or your own.
   * @param selector Which instances qualify.
   * @returns The picked instance, or undefined when none qualifies.
   *
   * @example
   * ```ts
   * import { Registry, RoundRobinPicker } from "@roster/roster";
   * import assert from "node:assert/strict";
   *
   * await using registry = new Registry({ service: "api", env: "pick-doc", cache: true });
   * const me = await registry.start();
   * const picker = new RoundRobinPicker();
   * assert.equal((await registry.pick("api", picker))?.id, me.id);
   * ```
   */
  async pick(
    service: string,
    picker: Picker,
    selector: Selector & { excludeSelf?: boolean } = {},
  ): Promise<Instance | undefined> {
    return picker.pick(await this.select(service, selector));
  }

  /**
   * Whether a majority of a service's expected members is live.
   *
   * @param service The service.
   * @param expected How many members it should have.
   * @returns The quorum state.
   *
   * @example
   * ```ts
   * import { Registry } from "@roster/roster";
   * import assert from "node:assert/strict";
   *
   * await using registry = new Registry({ service: "db", env: "quorum-doc" });
   * await registry.start();
   * assert.equal((await registry.quorum("db", 3)).reached, false);
   * assert.equal((await registry.quorum("db", 1)).reached, true);
   * ```
   */
  async quorum(service: string, expected: number): Promise<QuorumState> {
    this.#checkExpected(expected);
    const feed = this.#watching();
    await feed.ready();
    return quorumState(service, expected, sortedView(feed, service).length);
  }

  /**
   * Streams the quorum state of a service: first the current one, then each
   * change of the live count.
   *
   * @param service The service.
   * @param expected How many members it should have.
   * @param options A signal that ends the stream.
   * @returns An async iterable of quorum states.
   */
  quorumChanges(
    service: string,
    expected: number,
    options: StreamOptions = {},
  ): AsyncGenerator<QuorumState, void, undefined> {
    validateName("service", service);
    this.#checkExpected(expected);
    return quorumChanges(this.#watching(), service, expected, options.signal);
  }

  /**
   * Sends a message to every instance of a service that is listening.
   *
   * @param service The service.
   * @param data Any JSON value.
   * @returns How many listeners it reached, where the backend can tell.
   * @throws {MessageTooLargeError} When the encoded message is too large.
   *
   * @example
   * ```ts
   * import { Registry } from "@roster/roster";
   *
   * await using registry = new Registry({ service: "api", env: "broadcast-doc" });
   * await registry.broadcast("api", { reload: true });
   * ```
   */
  broadcast(service: string, data: unknown): Promise<number> {
    return this.#messenger.broadcast(service, data);
  }

  /**
   * Sends a message to one instance by id.
   *
   * @param id The instance id.
   * @param data Any JSON value.
   * @returns 1 when a listener got it, 0 when none was listening (where the
   *   backend can tell).
   * @throws {MessageTooLargeError} When the encoded message is too large.
   */
  send(id: string, data: unknown): Promise<number> {
    return this.#messenger.send(id, data);
  }

  /**
   * Receives the messages broadcast to this instance's service and those
   * sent to it by id, while the registry runs.
   *
   * @param handler Called with each message; one that throws is logged.
   * @returns A function that stops receiving.
   * @throws {RegistryStateError} Before `start()`.
   *
   * @example
   * ```ts
   * import { Registry } from "@roster/roster";
   * import assert from "node:assert/strict";
   *
   * await using registry = new Registry({ service: "api", env: "message-doc" });
   * const me = await registry.start();
   * const got = Promise.withResolvers<unknown>();
   * const stop = await registry.onMessage((message) => got.resolve(message.data));
   * await registry.send(me.id, "hello");
   * assert.equal(await got.promise, "hello");
   * await stop();
   * ```
   */
  onMessage(
    handler: (message: Message) => void,
  ): Promise<() => Promise<void>> {
    return this.#messenger.onMessage(handler);
  }

  /**
   * Receives messages as an async iterable; see {@linkcode Registry.onMessage}.
   *
   * @param options A signal that ends the stream.
   * @returns The messages, as they arrive.
   */
  messages(
    options: StreamOptions = {},
  ): AsyncGenerator<Message, void, undefined> {
    return this.#messenger.messages(options);
  }

  /**
   * How many messages `messages()` streams dropped because their consumer
   * fell 10,000 behind (the oldest go first).
   */
  get droppedMessages(): number {
    return this.#messenger.dropped;
  }

  #checkExpected(expected: number): void {
    if (!Number.isInteger(expected) || expected < 1) {
      throw new ConfigError(
        `Invalid 'expected': ${expected} must be a whole number of at least 1`,
        { field: "expected" },
      );
    }
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

  /** The registry's one change feed, started on first use. */
  #watching(): ChangeFeed {
    if (this.#stopping) {
      throw new RegistryStateError(
        "Cannot watch: the registry is stopped; create a new Registry",
      );
    }
    if (!this.#feed) {
      const feed = this.#feed = new ChangeFeed(
        this.driver,
        this.env,
        this.#clock,
        {
          purgeEvery: this.#options.purgeInterval,
          pollWait: 5_000,
          protection: this.#options.protection,
          onProtection: (change) => {
            const attributes = {
              ...this.#attributes,
              "roster.service": change.service,
            };
            this.#instruments.protections.add(change.on ? 1 : -1, attributes);
            this.#events.emit("protection", change);
          },
        },
      );
      feed.subscribe((message) => {
        if (
          message.kind === "state" &&
          (message.state === "live" || message.state === "stale")
        ) {
          this.#events.emit("view", {
            state: message.state,
            error: message.error,
          });
        }
      });
    }
    return this.#feed;
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
