/**
 * The session: the life of one registration, as etcd's
 * `concurrency.Session` is the life of one kept-alive lease. It registers,
 * keeps the registration alive with heartbeats, holds its status (the
 * health check's word, drain and maintenance), and deregisters on stop.
 * Discovery, election and messaging are built on it.
 *
 * @module
 */

import type { ElectionSelf } from "../election/election.ts";
import type { Attributes } from "@opentelemetry/api";
import { sleepUnlessAborted, withDeadline } from "../_deadline.ts";
import { errorMessage, logger } from "../_logger.ts";
import { traced } from "../_telemetry.ts";
import { type Clock, monotonicNow } from "../clock.ts";
import type { Driver, Registration } from "../contract/driver.ts";
import { formatDuration, parseDuration } from "../duration.ts";
import { ConfigError, RegistryStateError, TimeoutError } from "../errors.ts";
import {
  attachHealth,
  HealthCheck,
  type HealthCheckEvents,
  type HealthCheckOptions,
} from "../heartbeat/health_check.ts";
import {
  type HeartbeatEvents,
  HeartbeatLoop,
  type HeartbeatState,
} from "../heartbeat/heartbeat_loop.ts";
import {
  type HealthStatus,
  type Instance,
  type InstanceStatus,
  takesWork,
} from "../instance.ts";
import { type ResolvedOptions, validateStatus } from "../registry_options.ts";
import type { DrainOptions } from "./drain.ts";
import {
  DEFAULT_MAINTENANCE_TTL_MS,
  type MaintenanceOptions,
  MaintenanceTimer,
} from "./maintenance.ts";

const log = logger("registry");

/** Where a registry (its session) is in its life. */
export type RegistryState =
  | "idle"
  | "starting"
  | "running"
  | "stopping"
  | "stopped";

/** The events a session reports, by name. */
export interface SessionEvents extends HeartbeatEvents {
  /** `start()` registered this instance. */
  registered: { instance: Instance };
  /** `drain()` began: the instance is `draining`, and leaves after `linger` ms. */
  draining: { linger: number };
  /** Maintenance turned on (until `until`, by this process's clock) or off. */
  maintenance: { on: boolean; until?: number; reason?: string };
  /** `stop()` finished; `removed` tells whether the backend entry was deleted. */
  deregistered: { removed: boolean; error?: unknown };
  /** The `health` check ran; `warning` says why it warns, `error` why it failed. */
  health_check: HealthCheckEvents["check"];
}

/** Where a session's events go, and where it listens to its own. */
export interface SessionEventBus {
  /** Reports an event. */
  emit<K extends keyof SessionEvents>(type: K, event: SessionEvents[K]): void;
  /** Listens for an event; returns a function that removes the listener. */
  on<K extends keyof SessionEvents>(
    type: K,
    listener: (event: SessionEvents[K]) => void,
  ): () => void;
}

/** What a session is made of. */
export interface SessionParts {
  /** The backend. */
  driver: Driver;
  /** The clock for timers and leases. */
  clock: Clock;
  /** The registry's validated options. */
  options: ResolvedOptions;
  /** This instance's id; undefined in a registry that only discovers. */
  id: string | undefined;
  /** The health check that keeps the status, if any. */
  health: HealthCheckOptions | undefined;
  /** Where the session's events go, shared with the registry. */
  events: SessionEventBus;
  /** Attributes of the session's spans. */
  attributes: Attributes;
  /**
   * Ends every leadership this process holds, for `reason`, and resolves
   * once the backend heard of it.
   */
  resign(reason: string): Promise<void>;
  /** Stops the whole registry: the end of a drain. */
  stopRegistry(): Promise<void>;
}

/**
 * The life of one registration: register, heartbeats, status, drain,
 * maintenance, deregister. A {@linkcode Registry} has one.
 */
export class Session {
  readonly #parts: SessionParts;
  readonly #options: ResolvedOptions;
  readonly #clock: Clock;
  #state: RegistryState = "idle";
  #registration: Registration | undefined;
  #instance: Instance | undefined;
  #loop: HeartbeatLoop | undefined;
  #starting: Promise<Instance> | undefined;
  #health: HealthCheck | undefined;
  #detachHealth: (() => void) | undefined;
  /** When the last heartbeat the backend accepted was sent (monotonic). */
  #beatSentAt = 0;
  /** What the health check (or `setStatus`) says of this process. */
  #healthStatus: HealthStatus;
  /** Set by `drain()` or `setMaintenance()`; it outranks the health. */
  #override: "draining" | "maintenance" | undefined;
  readonly #maintenance: MaintenanceTimer;
  #draining: Promise<void> | undefined;
  /** Aborted when stopping begins: it cuts a drain's linger short. */
  readonly #stopCalled = new AbortController();

  /**
   * Creates a session that has not registered yet.
   *
   * @param parts The backend, options and hooks it needs.
   */
  constructor(parts: SessionParts) {
    this.#parts = parts;
    this.#options = parts.options;
    this.#clock = parts.clock;
    this.#healthStatus = parts.options.status;
    this.#maintenance = new MaintenanceTimer(parts.clock);
  }

  /** Where the session is in its life. */
  get state(): RegistryState {
    return this.#state;
  }

  /** How the heartbeat fares; `healthy` before start and after stop. */
  get heartbeatState(): HeartbeatState {
    return this.#loop?.state ?? "healthy";
  }

  /** The instance as last recorded, undefined before registering. */
  get instance(): Instance | undefined {
    return this.#instance;
  }

  /** The registration the backend holds, while running. */
  get registration(): Registration | undefined {
    return this.#state === "running" ? this.#registration : undefined;
  }

  /** When the last heartbeat the backend accepted was sent (monotonic). */
  get beatSentAt(): number {
    return this.#beatSentAt;
  }

  /** Whether stopping has begun. */
  get stopping(): boolean {
    return this.#stopCalled.signal.aborted;
  }

  /** The status this instance registers and beats with. */
  get status(): InstanceStatus {
    return this.#registration?.status ?? this.#wantedStatus();
  }

  /**
   * Whether this instance means to take work: its newest status, which the
   * backend may not have heard of yet.
   */
  get takesWork(): boolean {
    return takesWork({ status: this.#wantedStatus() });
  }

  /**
   * This instance as an election sees it, while it runs.
   *
   * @returns The registration, instance, last beat and intent, or undefined
   *   when not running.
   */
  electionSelf(): ElectionSelf | undefined {
    const registration = this.registration;
    const instance = this.#instance;
    return registration && instance
      ? {
        registration,
        instance,
        beatSentAt: this.#beatSentAt,
        takesWork: this.takesWork,
      }
      : undefined;
  }

  /**
   * Registers and starts heartbeats; see {@linkcode Registry.start}.
   *
   * @returns The instance as the backend recorded it.
   */
  start(): Promise<Instance> {
    const { service, env } = this.#options;
    const id = this.#parts.id;
    if (this.#state !== "idle") {
      return Promise.reject(
        new RegistryStateError(
          `Cannot start: the registry is ${this.#state}; create a new Registry to register again`,
        ),
      );
    }
    if (service === undefined || id === undefined) {
      return Promise.reject(
        new ConfigError(
          "Cannot start: no 'service' was given; pass one, such as { service: \"api\" }, to register this process",
          { field: "service" },
        ),
      );
    }
    this.#state = "starting";
    const registration: Registration = {
      id,
      service,
      env,
      version: this.#options.version,
      addr: this.#options.addr,
      meta: this.#options.meta,
      hostname: this.#options.hostname,
      pid: this.#options.pid,
      status: this.status,
      owner: crypto.randomUUID(),
      ttl: this.#options.ttl,
      heartbeatInterval: this.#options.heartbeatInterval,
      weight: this.#options.weight,
    };
    this.#registration = registration;
    this.#starting = this.#register(registration);
    return this.#starting;
  }

  /** Marks a session that can never start (its signal was aborted). */
  refuseStart(): void {
    this.#state = "stopped";
  }

  async #register(registration: Registration): Promise<Instance> {
    const { driver } = this.#parts;
    let instance: Instance;
    try {
      // Registering happens once and may be a connection's first command
      // (a script to load): it gets up to a ttl, within five seconds, and
      // never less than two heartbeat timeouts.
      const timeout = Math.max(
        this.#options.heartbeatTimeout * 2,
        Math.min(this.#options.ttl, 5_000),
      );
      this.#beatSentAt = monotonicNow(this.#clock);
      instance = await withDeadline(
        traced(
          "roster.register",
          this.#spanAttributes(),
          () => driver.register(registration),
        ),
        timeout,
        this.#clock,
        () => new TimeoutError("register", timeout),
      );
    } catch (error) {
      this.#state = "stopped";
      // A register that timed out may still land; remove it so nothing
      // stays half-registered. The owner token makes this safe.
      driver.deregister(registration).catch(() => {});
      throw error;
    }
    this.#instance = instance;
    if (this.stopping) return instance;
    this.#state = "running";
    this.#startHeartbeats(registration, instance);
    this.#startHealthCheck();
    log.info(
      "Registered {id} (service {service}, env {env}) on {driver}; heartbeat every {interval}, ttl {ttl}",
      {
        id: instance.id,
        service: instance.service,
        env: instance.env,
        driver: driver.name,
        interval: formatDuration(this.#options.heartbeatInterval),
        ttl: formatDuration(this.#options.ttl),
      },
    );
    this.#parts.events.emit("registered", { instance });
    return instance;
  }

  #startHeartbeats(registration: Registration, instance: Instance): void {
    const events = this.#parts.events;
    this.#loop = new HeartbeatLoop({
      driver: this.#parts.driver,
      registration,
      instance,
      interval: this.#options.heartbeatInterval,
      timeout: this.#options.heartbeatTimeout,
      clock: this.#clock,
      emit: <K extends keyof HeartbeatEvents>(
        type: K,
        event: HeartbeatEvents[K],
      ) => {
        if (type === "reregistered") {
          this.#instance = (event as HeartbeatEvents["reregistered"]).instance;
        } else if (type === "heartbeat") {
          const beat = event as HeartbeatEvents["heartbeat"];
          this.#instance = beat.instance;
          this.#beatSentAt = monotonicNow(this.#clock) - beat.latency;
        }
        events.emit(type, event as SessionEvents[K]);
      },
    });
    this.#loop.start();
  }

  #startHealthCheck(): void {
    if (!this.#parts.health) return;
    const health = this.#health = new HealthCheck({
      ...this.#parts.health,
      clock: this.#clock,
    });
    const detach = attachHealth(health, (status) => this.setStatus(status));
    const offCheck = health.on(
      "check",
      (check) => this.#parts.events.emit("health_check", check),
    );
    this.#detachHealth = () => {
      detach();
      offCheck();
    };
    health.start();
  }

  /**
   * Sets this instance's health; see {@linkcode Registry.setStatus}.
   *
   * @param status `healthy`, `warning` or `unhealthy`.
   */
  setStatus(status: HealthStatus): void {
    this.#healthStatus = validateStatus("status", status);
    this.#publishStatus();
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
      : this.#parts.resign(
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
    const events = this.#parts.events;
    return new Promise((resolve) => {
      const done = (recorded: boolean) => {
        offBeat();
        offStop();
        this.#clock.clearTimeout(timer);
        resolve(recorded);
      };
      const offBeat = events.on("heartbeat", ({ instance }) => {
        if (instance.status === status) done(true);
      });
      const offStop = events.on("deregistered", () => done(false));
      const timer = this.#clock.setTimeout(
        () => done(false),
        this.#options.ttl,
      );
    });
  }

  /**
   * Drains this instance before it leaves; see {@linkcode Registry.drain}.
   *
   * @param options How long to linger, and whether to stop afterwards.
   * @returns A promise that resolves once the linger is over.
   */
  drain(options: DrainOptions = {}): Promise<void> {
    let linger: number;
    try {
      linger = parseDuration(options.linger ?? 0, "linger", {
        allowZero: true,
      });
    } catch (error) {
      return Promise.reject(error);
    }
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
    this.#maintenance.cancel();
    this.#override = "draining";
    log.info("Draining {id}: it takes no new work and leaves in {linger}", {
      id: this.#parts.id,
      linger: formatDuration(linger),
    });
    const recorded = this.#statusRecorded("draining");
    this.#publishStatus();
    this.#parts.events.emit("draining", { linger });
    await recorded;
    await sleepUnlessAborted(this.#clock, linger, this.#stopCalled.signal);
    if (stop) await this.#parts.stopRegistry();
  }

  /**
   * Turns maintenance on or off; see {@linkcode Registry.setMaintenance}.
   *
   * @param on Whether maintenance is on.
   * @param options How long it lasts (one hour by default).
   * @returns A promise that resolves once the backend recorded the status.
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
    const id = this.#parts.id;
    if (on) {
      const until = this.#maintenance.start(ttl, () => {
        log.info("Maintenance of {id} ended: its ttl ({ttl}) passed", {
          id,
          ttl: formatDuration(ttl),
        });
        this.#setOverride(undefined, "its ttl passed");
      });
      log.info("{id} is in maintenance for {ttl}", {
        id,
        ttl: formatDuration(ttl),
      });
      await this.#setOverride("maintenance", undefined, until);
    } else {
      this.#maintenance.cancel();
      if (this.#override !== "maintenance") return;
      log.info("{id} left maintenance", { id });
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
    this.#parts.events.emit("maintenance", {
      on: override !== undefined,
      ...(until === undefined ? {} : { until }),
      ...(reason === undefined ? {} : { reason }),
    });
    await recorded;
  }

  /**
   * Begins stopping: a drain's linger ends and maintenance's timer stops.
   * The registry then resigns its leaderships and calls `close()`.
   */
  beginStop(): void {
    this.#stopCalled.abort();
    this.#maintenance.cancel();
  }

  /**
   * Stops the health check and heartbeats, and deregisters within
   * `stopTimeout`. Never rejects: an entry that cannot be removed expires.
   */
  async close(): Promise<void> {
    this.#detachHealth?.();
    await this.#health?.stop();
    await this.#deregister();
  }

  async #deregister(): Promise<void> {
    if (this.#state === "idle" || this.#state === "stopped") {
      this.#state = "stopped";
      return;
    }
    this.#state = "stopping";
    const registration = this.#registration as Registration;
    const { stopTimeout } = this.#options;
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
            () => this.#parts.driver.deregister(registration),
          );
        })(),
        stopTimeout,
        this.#clock,
        () => new TimeoutError("stop", stopTimeout),
      );
    } catch (caught) {
      error = caught;
      this.#loop?.stop();
      log.warn(
        "Could not deregister {id}: {error}; the entry expires within its ttl ({ttl})",
        {
          id: registration.id,
          error: errorMessage(error),
          ttl: formatDuration(this.#options.ttl),
        },
      );
    }
    this.#state = "stopped";
    if (removed) log.info("Deregistered {id}", { id: registration.id });
    this.#parts.events.emit("deregistered", { removed, error });
  }

  #spanAttributes(): Attributes {
    return {
      ...this.#parts.attributes,
      "roster.instance.id": this.#parts.id ?? "",
    };
  }
}
