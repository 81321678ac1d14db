/**
 * The contract's types that the entry points' APIs name, re-exported by each
 * of them (`export type *`), so every entry point documents completely on
 * its own.
 *
 * @module
 */

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
} from "./driver.ts";
export type {
  HealthStatus,
  Instance,
  InstanceFields,
  InstanceStatus,
} from "../instance.ts";
export type { Clock, TimerHandle } from "../clock.ts";
