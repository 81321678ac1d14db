/**
 * What a `Registry` offers for this process's own registration:
 * start, health and status, drain, maintenance, stop. The session
 * (`session.ts`) does the work; the registry delegates to it.
 *
 * @module
 */

import type { HeartbeatState } from "../heartbeat/heartbeat_loop.ts";
import type { HealthStatus, Instance, InstanceStatus } from "../instance.ts";
import type { DrainOptions } from "./drain.ts";
import type { MaintenanceOptions } from "./maintenance.ts";
import type { RegistryState } from "./session.ts";

/** A registry's methods for this process's registration. */
export interface RegistrationApi {
  /** Where the registry is in its life. */
  readonly state: RegistryState;

  /** How the heartbeat fares; `healthy` before start and after stop. */
  readonly heartbeatState: HeartbeatState;

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
  start(): Promise<Instance>;

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
  instance(): Instance | undefined;

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
  setStatus(status: HealthStatus): void;

  /** The status this instance registers and beats with. */
  readonly status: InstanceStatus;

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
  drain(options?: DrainOptions): Promise<void>;

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
  setMaintenance(on: boolean, options?: MaintenanceOptions): Promise<void>;

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
  stop(): Promise<void>;
}
