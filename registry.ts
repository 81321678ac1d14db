/**
 * The registry: registers this process, keeps it alive, removes it on stop,
 * and lists the live instances of any service.
 *
 * @module
 */

import { EventEmitter } from "./_event_emitter.ts";
import { logger } from "./_logger.ts";
import { type Clock, systemClock } from "./clock.ts";
import type { Driver, Registration } from "./driver.ts";
import { MemoryDriver } from "./drivers/memory.ts";
import { formatDuration } from "./duration.ts";
import { ConfigError, RegistryStateError, TimeoutError } from "./errors.ts";
import {
  type HeartbeatEvents,
  HeartbeatLoop,
  type HeartbeatState,
} from "./heartbeat_loop.ts";
import { defaultInstanceId, type Instance, validateName } from "./instance.ts";
import {
  type RegistryOptions,
  type ResolvedOptions,
  resolveRegistryOptions,
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
  /** `stop()` finished; `removed` tells whether the backend entry was deleted. */
  deregistered: { removed: boolean; error?: unknown };
}

let processMemoryDriver: MemoryDriver | undefined;

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
  readonly #events = new EventEmitter<RegistryEvents>();
  #state: RegistryState = "idle";
  #registration: Registration | undefined;
  #instance: Instance | undefined;
  #loop: HeartbeatLoop | undefined;
  #starting: Promise<Instance> | undefined;
  #stopping: Promise<void> | undefined;

  /**
   * Creates a registry. Every option is validated here, so a bad value fails
   * at once with a {@linkcode ConfigError} that names it.
   *
   * @param options The service, timing, driver and other options.
   * @throws {ConfigError} When an option is invalid.
   */
  constructor(options: RegistryOptions = {}) {
    this.#options = resolveRegistryOptions(options);
    this.driver = options.driver ??
      (processMemoryDriver ??= new MemoryDriver());
    this.#clock = options.clock ?? systemClock;
    this.#signal = options.signal;
    this.service = this.#options.service;
    this.env = this.#options.env;
    this.heartbeatInterval = this.#options.heartbeatInterval;
    this.ttl = this.#options.ttl;
    this.id = this.service === undefined ? undefined : this.#options.id ??
      defaultInstanceId(this.service, this.#options.hostname);
    this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
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
      owner: crypto.randomUUID(),
      ttl: this.ttl,
    };
    this.#registration = registration;
    this.#starting = this.#register(registration);
    return this.#starting;
  }

  async #register(registration: Registration): Promise<Instance> {
    let instance: Instance;
    try {
      instance = await this.#deadline(
        this.driver.register(registration),
        "register",
        this.#options.heartbeatTimeout * 2,
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
        if (type === "heartbeat" || type === "reregistered") {
          this.#instance = (event as RegistryEvents["heartbeat"]).instance;
        }
        this.#events.emit(type, event as RegistryEvents[K]);
      },
    });
    this.#loop.start();
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
    for (const service of services) validateName("service", service);
    return await this.driver.list({ env: this.env, services });
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
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#signal?.removeEventListener("abort", this.#onAbort);
    if (this.#state === "idle" || this.#state === "stopped") {
      this.#state = "stopped";
      return;
    }
    this.#state = "stopping";
    const registration = this.#registration as Registration;
    let removed = false;
    let error: unknown;
    try {
      removed = await this.#deadline(
        (async () => {
          await this.#starting?.catch(() => {});
          await this.#loop?.stop();
          return await this.driver.deregister(registration);
        })(),
        "stop",
        this.#options.stopTimeout,
      );
    } catch (caught) {
      error = caught;
      this.#loop?.stop();
      log.warn(
        "Could not deregister {id}: {error}; the entry expires within its ttl ({ttl})",
        { id: registration.id, error, ttl: formatDuration(this.ttl) },
      );
    }
    this.#state = "stopped";
    if (removed) log.info("Deregistered {id}", { id: registration.id });
    this.#events.emit("deregistered", { removed, error });
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

  #deadline<T>(promise: Promise<T>, operation: string, ms: number): Promise<T> {
    let timer: unknown;
    const deadline = new Promise<never>((_, reject) => {
      timer = this.#clock.setTimeout(
        () => reject(new TimeoutError(operation, ms)),
        ms,
      );
    });
    return Promise.race([promise, deadline]).finally(() =>
      this.#clock.clearTimeout(timer)
    );
  }
}
