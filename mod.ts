/**
 * roster: service-instance heartbeats and a cluster registry.
 *
 * A process registers itself as an instance of a service, keeps that
 * registration alive with heartbeats under a ttl, and removes it on
 * shutdown; any process can list the live instances of a service. Expiry is
 * judged by the backend's clock, a heartbeat re-creates a registration the
 * backend lost, and every bad input fails with an error that names it.
 *
 * The default driver is in memory (one process sees only itself); use
 * `@roster/roster/redis` to share one view between many processes.
 *
 * @example Register this process and list its peers
 * ```ts
 * import { Registry } from "@roster/roster";
 *
 * await using registry = new Registry({
 *   service: "api",
 *   addr: "http://127.0.0.1:8080",
 *   meta: { zone: "eu-1" },
 *   heartbeatInterval: "5s",
 *   ttl: "15s",
 * });
 * registry.on("heartbeat_failed", ({ error, retryIn }) => {
 *   console.warn(`heartbeat failed (${error}); retrying in ${retryIn}ms`);
 * });
 * await registry.start();
 * for (const instance of await registry.instances("api")) {
 *   console.log(instance.id, instance.addr);
 * }
 * ```
 *
 * @module
 */

import { MemoryDriver } from "./drivers/memory/mod.ts";
import { setDefaultDriver } from "./registry.ts";

// A registry with no driver shares this process's memory driver.
let processMemoryDriver: MemoryDriver | undefined;
setDefaultDriver(() => processMemoryDriver ??= new MemoryDriver());

export { type Clock, systemClock, type TimerHandle } from "./clock.ts";
// The contract's types that the public API names (a Registry takes a
// Driver), so mod.ts documents completely on its own.
export type {
  BackendStatus,
  Change,
  ChangeBatch,
  ChangeReason,
  Driver,
  DriverLimitations,
  HeartbeatResult,
  ListQuery,
  Registration,
  RegistrationKey,
  Snapshot,
} from "./contract/driver.ts";
export {
  type Duration,
  formatDuration,
  parseDuration,
  type ParseDurationOptions,
} from "./duration.ts";
export {
  AlreadyRegisteredError,
  ChangeLogGapError,
  ConfigError,
  LeadershipLostError,
  RegistryStateError,
  TimeoutError,
  WaitForTimeoutError,
} from "./errors.ts";
export {
  attachHealth,
  type CheckResult,
  HealthCheck,
  type HealthCheckEvents,
  type HealthCheckOptions,
} from "./heartbeat/health_check.ts";
export type {
  HeartbeatEvents,
  HeartbeatState,
} from "./heartbeat/heartbeat_loop.ts";
export {
  effectiveWeight,
  type HealthStatus,
  type Instance,
  type InstanceFields,
  type InstanceStatus,
  MAX_META_KEYS,
  MAX_META_TOTAL_BYTES,
  MAX_META_VALUE_BYTES,
  MAX_WEIGHT,
  parseWeight,
  takesWork,
  validateWeight,
  WARNING_WEIGHT_SHARE,
} from "./instance.ts";
export type { LeaderChange, Leadership } from "./election/leadership.ts";
export {
  DEFAULT_MAX_MESSAGE_BYTES,
  type Message,
  MessageTooLargeError,
} from "./messaging/message.ts";
export { MAX_QUEUED_MESSAGES } from "./messaging/messenger.ts";
export {
  type Picker,
  RandomPicker,
  RoundRobinPicker,
} from "./discovery/pickers.ts";
export { WeightedPicker } from "./discovery/weighted_picker.ts";
export {
  ZoneAwarePicker,
  type ZoneAwarePickerOptions,
} from "./discovery/zone_aware_picker.ts";
export { type QuorumState, quorumState } from "./discovery/quorum.ts";
export {
  type EvictionProtectionOptions,
  type ProtectionChange,
  resolveProtectionOptions,
} from "./discovery/eviction_protection.ts";
export { Registry, type RegistryEvents } from "./registry.ts";
export type { RegistrationApi } from "./session/registration_api.ts";
export type { DrainOptions } from "./session/drain.ts";
export {
  DEFAULT_MAINTENANCE_TTL_MS,
  type MaintenanceOptions,
} from "./session/maintenance.ts";
export type { RegistryState, SessionEvents } from "./session/session.ts";
export type { DiscoveryApi } from "./discovery/discovery_api.ts";
export type { ElectionApi } from "./election/election_api.ts";
export type { MessagingApi } from "./messaging/messaging_api.ts";
export { selectInstances, type Selector } from "./discovery/select.ts";
export type { WaitForOptions } from "./discovery/wait_for.ts";
export type { ViewState, WatchEvent, WatchOptions } from "./discovery/watch.ts";
export {
  type MeterProvider,
  type OptionNames,
  type RegistryOptions,
  type ResolvedOptions,
  resolveRegistryOptions,
  type StreamOptions,
} from "./registry_options.ts";
