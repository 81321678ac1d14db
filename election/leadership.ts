/**
 * What a leader holds, and what observers see of leadership.
 *
 * @module
 */

import type { Instance } from "../instance.ts";

/**
 * This process leads its service, for one term the backend granted. Hand
 * `term` to the systems the leader writes to, and have them refuse writes
 * that carry a lower one: a leader that lost its lease without noticing
 * (paused, partitioned) then cannot overwrite its successor's work. Call
 * `assertValid()` (or check `valid()`) just before each side effect: it
 * compares the lease with the clock right now, so a process that was paused
 * past its lease finds out before acting, even before its timers run.
 */
export interface Leadership {
  /** This instance, as it was when it became leader. */
  readonly instance: Instance;
  /**
   * The term: the fencing number, issued by the backend, greater than every
   * term granted before for the service.
   */
  readonly term: number;
  /**
   * The same as `term`.
   *
   * @deprecated Use `term`; `fencing` stays for code written before terms.
   */
  readonly fencing: number;
  /**
   * Aborts when this process stops being leader: an older instance is
   * healthy again, its lease may have run out, it re-registered, it turned
   * unhealthy, or the registry stopped. Stop leader-only work when it fires.
   */
  readonly signal: AbortSignal;
  /**
   * Whether this leadership still holds, right now: not ended, and its
   * lease (the last accepted heartbeat's send time plus the ttl, less a
   * heartbeat timeout) still running by the clock.
   *
   * @returns True while it may act as leader.
   */
  valid(): boolean;
  /**
   * Throws unless `valid()`: the thing to call just before a side effect.
   *
   * @throws {LeadershipLostError} When it no longer holds.
   */
  assertValid(): void;
  /**
   * Ends this leadership, if it still holds, and tells the backend, so a
   * standby need not wait for the lease to run out: call it when the
   * leader's work returns. After `standby({ releaseTimeout })`, a
   * leadership lost early reaches the backend only through this call, or
   * once the timeout passed.
   *
   * @returns A promise that resolves once the backend was told.
   */
  release(): Promise<void>;
}

/** A change of leader, from `Registry.leaderChanges`. */
export interface LeaderChange {
  /** The service. */
  service: string;
  /**
   * The new leader: the oldest live, healthy instance, which holds or is
   * about to be granted the term; undefined when none is live.
   */
  leader: Instance | undefined;
}
