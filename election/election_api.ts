/**
 * What a `Registry` offers to elect a leader among a service's
 * live instances: who leads, changes of leader, standing by and leading.
 * The election (`election.ts`) does the work; the registry delegates to it.
 *
 * @module
 */

import type { Duration } from "../duration.ts";
import type { Instance } from "../instance.ts";
import type { StreamOptions } from "../registry_options.ts";
import type { LeaderChange, Leadership } from "./leadership.ts";

/** A registry's methods for leadership. */
export interface ElectionApi {
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
  leader(service?: string): Promise<Instance | undefined>;

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
    options?: StreamOptions,
  ): AsyncGenerator<LeaderChange, void, undefined>;

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
    options?: StreamOptions & { releaseTimeout?: Duration },
  ): Promise<Leadership>;

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
    options?: StreamOptions & { releaseTimeout?: Duration },
  ): Promise<T>;
}
