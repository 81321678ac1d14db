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
} from "./registry_options.ts";
import type { DrainOptions } from "./session/drain.ts";
import type { MaintenanceOptions } from "./session/maintenance.ts";
import {
  type RegistryState,
  Session,
  type SessionEvents,
} from "./session/session.ts";

export type { DrainOptions } from "./session/drain.ts";
export {
  DEFAULT_MAINTENANCE_TTL_MS,
  type MaintenanceOptions,
} from "./session/maintenance.ts";
export type { RegistryState, SessionEvents } from "./session/session.ts";

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

  /** Where the registry is in its life. */
  get state(): RegistryState {
    return this.#session.state;
  }

  /** How the heartbeat fares; `healthy` before start and after stop. */
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
    return this.#session.instance;
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
  instances(...services: string[]): Promise<Instance[]> {
    return this.#discovery.instances(services);
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
  allInstances(...services: string[]): Promise<Instance[]> {
    return this.#discovery.allInstances(services);
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
    this.#session.setStatus(status);
  }

  /** The status this instance registers and beats with. */
  get status(): InstanceStatus {
    return this.#session.status;
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
    return this.#stopping ?? this.#session.drain(options);
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
  setMaintenance(on: boolean, options: MaintenanceOptions = {}): Promise<void> {
    return this.#session.setMaintenance(on, options);
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

  /**
   * Whether the local view follows the backend: `live`, `stale` (the backend
   * cannot be reached; the last known instances are kept), or `connecting`.
   * Undefined until something watches (or `cache` is on and something lists).
   */
  get viewState(): ViewState | undefined {
    return this.#discovery.viewState;
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
    return this.#discovery.watch(service, options);
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
    return this.#election.leaderChanges(
      this.#serviceName(service),
      options.signal,
    );
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
    return this.#discovery.waitFor(service, options);
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
  select(
    service: string,
    selector: Selector & { excludeSelf?: boolean } = {},
  ): Promise<Instance[]> {
    return this.#discovery.select(service, selector);
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
  pick(
    service: string,
    picker: Picker,
    selector: Selector & { excludeSelf?: boolean } = {},
  ): Promise<Instance | undefined> {
    return this.#discovery.pick(service, picker, selector);
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
  quorum(service: string, expected: number): Promise<QuorumState> {
    return this.#discovery.quorum(service, expected);
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
    return this.#discovery.quorumChanges(service, expected, options.signal);
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
