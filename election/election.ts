/**
 * Leader election, in the sense of etcd's `concurrency.Election`: built on
 * a registry (a kept-alive registration, like etcd's session), it asks the
 * backend for leadership when this instance is the oldest live, healthy one
 * of its service, and the backend grants it only then and only once the last
 * leader's lease is over, with a term that only rises.
 *
 * @module
 */

import { errorMessage, logger } from "../_logger.ts";
import { Wakeup } from "../_wakeup.ts";
import { type Clock, monotonicNow } from "../clock.ts";
import { type ChangeFeed, observeView, sortedView } from "../discovery/view.ts";
import type { Driver, Registration } from "../contract/driver.ts";
import { RegistryStateError } from "../errors.ts";
import type { Instance } from "../instance.ts";
import { Lead } from "./lead.ts";
import type { LeaderChange, Leadership } from "./leadership.ts";

const log = logger("election");

/** Options for {@linkcode Election.standby}. */
export interface StandbyOptions {
  /** Ends the wait to lead. */
  signal?: AbortSignal;
  /**
   * How long, in ms, a leadership that ended early may wait for
   * `leadership.release()` before the backend hears of it.
   */
  releaseTimeout?: number;
}

/** This instance as it runs, for an election. */
export interface ElectionSelf {
  /** The registration the backend holds. */
  registration: Registration;
  /** The instance as last recorded. */
  instance: Instance;
  /**
   * When the last heartbeat the backend accepted was sent, on the clock's
   * monotonic time (`monotonicNow`).
   */
  beatSentAt: number;
  /**
   * Whether it means to take work: its newest status, which the backend may
   * not have heard of yet.
   */
  takesWork: boolean;
}

/** What an election needs of its registry. */
export interface ElectionSession {
  /** The backend, which grants terms. */
  readonly driver: Driver;
  /** The clock leases are measured on. */
  readonly clock: Clock;
  /**
   * How long after a heartbeat was sent this process counts its lease as
   * running: the ttl less a heartbeat timeout, so it ends before the
   * backend's, which began no earlier than the beat was sent.
   */
  readonly leaseMs: number;
  /** How long to wait before asking again after a refusal. */
  readonly retryMs: number;
  /** The registry's view of the env. */
  feed(): ChangeFeed;
  /** This instance while it runs; undefined otherwise. */
  current(): ElectionSelf | undefined;
  /**
   * Listens for the registry events that move a lease, confirm a term or
   * end it.
   *
   * @param type The event.
   * @param listener Called when it happens; a heartbeat says whether the
   *   backend still names this instance leader of the term it carried.
   * @returns A function that removes the listener.
   */
  on(
    type:
      | "heartbeat"
      | "heartbeat_failed"
      | "reregistered"
      | "conflict"
      | "deregistered",
    listener: (event: { termHeld?: boolean }) => void,
  ): () => void;
  /** Told when this process gains or loses leadership of a service. */
  leadershipChanged?(service: string, change: "gained" | "lost"): void;
}

/** Elects one leader per service among a registry's peers. */
export class Election {
  readonly #session: ElectionSession;
  readonly #leads = new Set<Lead>();
  readonly #leadOf = new WeakMap<Leadership, Lead>();

  /**
   * Creates the election of a registry.
   *
   * @param session What it needs of the registry.
   */
  constructor(session: ElectionSession) {
    this.#session = session;
  }

  /**
   * The leader of a service as the view shows it: its oldest live, healthy
   * instance, which holds the term or is about to be granted it.
   *
   * @param service The service.
   * @returns The leader, or undefined when none is live.
   */
  async leader(service: string): Promise<Instance | undefined> {
    const feed = this.#session.feed();
    await feed.ready();
    return eldest(feed, service);
  }

  /**
   * Streams the leader of a service: first the current one, then each new
   * one as leadership moves.
   *
   * @param service The service.
   * @param signal Ends the stream.
   * @returns The changes.
   */
  leaderChanges(
    service: string,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<LeaderChange, void, undefined> {
    return observeView(
      this.#session.feed(),
      service,
      (feed) => ({ service, leader: eldest(feed, service) }),
      (a, b) =>
        a.leader?.id === b.leader?.id && a.leader?.seq === b.leader?.seq,
      signal,
    );
  }

  /**
   * Waits until this instance leads its service: when the view shows it as
   * the oldest live, healthy instance and its lease is fresh, it asks the
   * backend, which grants a term only while no other leader's lease can
   * run; a refusal is asked again on the next change, beat, or after a
   * short wait.
   *
   * With `releaseTimeout`, a leadership that ends early reaches the
   * backend only once `leadership.release()` is called or the timeout
   * passed (see {@linkcode Election.holdUntilReleased}).
   *
   * @param service This instance's service.
   * @param options A signal that ends the wait early, and how long a lost
   *   leadership's release may wait for `release()`, in ms.
   * @returns The leadership.
   * @throws {RegistryStateError} When the registry stops first.
   */
  async standby(
    service: string,
    options: StandbyOptions = {},
  ): Promise<Leadership> {
    const leadership = await this.#campaign(service, options.signal);
    if (options.releaseTimeout !== undefined) {
      this.holdUntilReleased(leadership, options.releaseTimeout);
    }
    return leadership;
  }

  /**
   * Leads, runs `work`, and releases leadership once `work` returns: the
   * same as `standby()` with a `releaseTimeout`, then `work`, then
   * `leadership.release()`.
   *
   * @param service This instance's service.
   * @param work The leader's work; it watches `leadership.signal`.
   * @param options A signal that ends the wait to lead, and the longest the
   *   release waits for `work`, in ms.
   * @returns What `work` returns.
   */
  async lead<T>(
    service: string,
    work: (leadership: Leadership) => Promise<T>,
    options: StandbyOptions & { releaseTimeout: number },
  ): Promise<T> {
    const leadership = await this.standby(service, options);
    try {
      return await work(leadership);
    } finally {
      // Done leading: release now, so a standby need not wait for a lease.
      await leadership.release();
    }
  }

  /** Asks the backend for a term whenever this instance should lead. */
  async #campaign(
    service: string,
    signal: AbortSignal | undefined,
  ): Promise<Leadership> {
    const session = this.#session;
    const feed = session.feed();
    const wakeup = new Wakeup();
    const offs = [
      feed.subscribe(wakeup.wake),
      session.on("heartbeat", wakeup.wake),
      session.on("deregistered", wakeup.wake),
    ];
    signal?.addEventListener("abort", wakeup.wake);
    let retry: unknown;
    try {
      await Promise.race([feed.ready(), wakeup.wait()]);
      while (!signal?.aborted) {
        const self = session.current();
        if (!self) break;
        const oldest = eldest(feed, service);
        // Only on a live view and a lease a fresh beat confirmed: a process
        // paused past its lease must not ask on what it saw before.
        if (
          oldest?.id === self.instance.id &&
          oldest.seq === self.instance.seq && feed.state === "live" &&
          // Its own status first: a change to unhealthy may not have
          // reached the backend or the view yet.
          self.takesWork &&
          monotonicNow(session.clock) < self.beatSentAt + session.leaseMs
        ) {
          const term = await session.driver.campaign(self.registration)
            .catch((error) => {
              log.warn("Could not ask to lead {service}: {error}", {
                service,
                error: errorMessage(error),
              });
              return undefined;
            });
          if (term !== undefined) {
            const now = session.current();
            if (now?.instance.seq === self.instance.seq && !signal?.aborted) {
              return this.#lead(service, now, term);
            }
            await session.driver.resign(self.registration, term).catch(
              () => {},
            );
            continue;
          }
          // Refused: the last leader's lease may still run by the
          // backend's clock. Ask again soon, or at the next change.
          retry = session.clock.setTimeout(wakeup.wake, session.retryMs);
        }
        await wakeup.wait();
        session.clock.clearTimeout(retry);
      }
    } finally {
      session.clock.clearTimeout(retry);
      for (const off of offs) off();
      signal?.removeEventListener("abort", wakeup.wake);
    }
    throw signal?.reason ??
      new RegistryStateError("Cannot stand by: the registry stopped");
  }

  /**
   * Makes a leadership's release wait for its work: when it ends early (the
   * signal aborts at once, with its reason), the backend is told only once
   * `leadership.release()` is called, or `boundMs` passed, so no other
   * instance is granted a term while the leader's work may still run (as
   * Kubernetes' ReleaseOnCancel).
   *
   * @param leadership The leadership.
   * @param boundMs The longest the release waits for `release()`.
   */
  holdUntilReleased(leadership: Leadership, boundMs: number): void {
    const lead = this.#leadOf.get(leadership);
    if (!lead) return;
    let done!: () => void;
    const work = new Promise<void>((resolve) => done = resolve);
    lead.until = { work, boundMs, done };
  }

  /**
   * Ends one leadership, as `resignAll` ends them all.
   *
   * @param leadership The leadership.
   * @param reason Why.
   * @returns A promise that resolves once the backend was told.
   */
  end(leadership: Leadership, reason: string): Promise<void> {
    const lead = this.#leadOf.get(leadership);
    lead?.end(reason);
    return lead?.resigned() ?? Promise.resolve();
  }

  /**
   * Ends every leadership this registry holds, at once (their signals abort
   * before this returns its promise), and tells the backend, so a standby
   * may lead without waiting for a lease to run out.
   *
   * @param reason Why, for the log and the abort reason.
   * @returns A promise that resolves once the backend was told.
   */
  resignAll(reason: string): Promise<void> {
    const lead = [...this.#leads];
    for (const leadership of lead) leadership.end(reason);
    return Promise.all(lead.map((leadership) => leadership.resigned())).then(
      () => {},
    );
  }

  #lead(service: string, self: ElectionSelf, term: number): Leadership {
    const feed = this.#session.feed();
    const lead = new Lead(
      this.#session,
      service,
      self,
      term,
      () => eldest(feed, service),
    );
    this.#leads.add(lead);
    lead.onEnd(() => this.#leads.delete(lead));
    const leadership = lead.leadership();
    this.#leadOf.set(leadership, lead);
    return leadership;
  }
}

/**
 * The oldest instance of a service that takes work, as the view shows it,
 * leaving out those the eviction safety valve holds: their leases ran out
 * by the backend's clock, so none of them can lead.
 */
function eldest(feed: ChangeFeed, service: string): Instance | undefined {
  return sortedView(feed, service).find((i) => !feed.isProtected(i));
}
