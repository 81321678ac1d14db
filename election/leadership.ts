/**
 * Leadership: the oldest live instance of a service leads.
 *
 * @module
 */

import type { Instance } from "../instance.ts";

/**
 * This process leads its service. Hand `fencing` to the systems the leader
 * writes to, and have them refuse writes that carry a lower number: a leader
 * that lost its lease without noticing (paused, partitioned) then cannot
 * overwrite its successor's work.
 */
export interface Leadership {
  /** This instance, as it was when it became leader. */
  instance: Instance;
  /** The fencing number: the `seq` the backend gave this registration. */
  fencing: number;
  /**
   * Aborts when this process stops being leader: another instance leads,
   * its lease was lost or may have expired, it re-registered, or the
   * registry stopped. Stop leader-only work when it fires.
   */
  signal: AbortSignal;
}

/** A change of leader, from `Registry.leaderChanges`. */
export interface LeaderChange {
  /** The service. */
  service: string;
  /** The new leader, or undefined when the service has no live instance. */
  leader: Instance | undefined;
}
