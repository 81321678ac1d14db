/**
 * One leadership this process holds, from the grant to the backend hearing
 * of its end: what ends it (an elder taking work, a new seq, a conflict, the
 * lease running out, the backend no longer naming it), whether it is valid
 * right now, and a release that may wait for the leader's work.
 *
 * @module
 */

import { logger } from "../_logger.ts";
import { monotonicNow } from "../clock.ts";
import { LeadershipLostError } from "../errors.ts";
import type { ElectionSelf, ElectionSession } from "./election.ts";
import type { Leadership } from "./leadership.ts";
import type { Instance } from "../instance.ts";

const log = logger("election");

/** A leadership this process holds, as the election tracks it. */
export class Lead {
  readonly #session: ElectionSession;
  readonly #service: string;
  readonly #self: ElectionSelf;
  readonly #term: number;
  readonly #controller = new AbortController();
  readonly #cleanups: (() => void)[] = [];
  #resigned = Promise.resolve();
  #timer: unknown;
  /** After a failed beat, false until a beat has the backend confirm the term. */
  #confirmed = true;
  /** Work whose return the release waits for, at most `boundMs`. */
  until?: { work: Promise<unknown>; boundMs: number; done: () => void };

  /**
   * Begins a leadership the backend granted.
   *
   * @param session What the election needs of its registry.
   * @param service The service led.
   * @param self This instance as it runs.
   * @param term The term granted.
   * @param eldest The oldest instance that takes work, as the view shows it.
   */
  constructor(
    session: ElectionSession,
    service: string,
    self: ElectionSelf,
    term: number,
    eldest: () => Instance | undefined,
  ) {
    this.#session = session;
    this.#service = service;
    this.#self = self;
    this.#term = term;
    // Every heartbeat now carries the term, and the backend confirms it.
    self.registration.term = term;
    this.#follow(eldest);
    this.#arm();
    log.info("{id} leads {service} with term {term}", {
      id: self.instance.id,
      service,
      term,
    });
    session.leadershipChanged?.(service, "gained");
  }

  /** The signal that aborts when it ends. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /**
   * Calls `cleanup` once the leadership ends.
   *
   * @param cleanup What to undo.
   */
  onEnd(cleanup: () => void): void {
    this.#cleanups.push(cleanup);
  }

  /** Ends it on whatever ends it, and keeps its lease timer armed. */
  #follow(eldest: () => Instance | undefined): void {
    const session = this.#session;
    const { instance } = this.#self;
    this.#controller.signal.addEventListener("abort", () => {
      for (const cleanup of this.#cleanups) cleanup();
    }, { once: true });
    this.#cleanups.push(
      session.feed().subscribe(() => {
        const oldest = eldest();
        if (oldest?.id !== instance.id || oldest.seq !== instance.seq) {
          this.end(
            oldest
              ? `'${oldest.id}' is now the oldest instance that takes work`
              : "the instance left the view",
          );
        }
      }),
      session.on(
        "reregistered",
        () =>
          this.end("its lease was lost and it registered again with a new seq"),
      ),
      session.on("conflict", () => this.end("another owner holds the id")),
      session.on("deregistered", () => this.end("the registry stopped")),
      // After a failed beat (a fault, or one that looks the same from here)
      // the term holds only once a beat has the backend confirm it again:
      // the backend may have lost the leadership's record meanwhile.
      session.on("heartbeat", ({ termHeld }) => {
        if (termHeld === false) {
          this.end(
            `the backend no longer names it leader of term ${this.#term}`,
          );
          return;
        }
        this.#confirmed = true;
        this.#arm();
      }),
      session.on("heartbeat_failed", () => this.#confirmed = false),
      () => session.clock.clearTimeout(this.#timer),
    );
  }

  /** When its lease runs out by this process's count (monotonic). */
  #deadline(): number {
    const current = this.#session.current();
    return current?.instance.seq === this.#self.instance.seq
      ? current.beatSentAt + this.#session.leaseMs
      : -Infinity;
  }

  /**
   * The lease timer, re-armed by every accepted beat: it ends leadership
   * before the lease can run out, without waiting for a failed beat.
   */
  #arm(): void {
    const clock = this.#session.clock;
    clock.clearTimeout(this.#timer);
    this.#timer = clock.setTimeout(
      () => this.end("heartbeats failed for longer than the lease can last"),
      Math.max(0, this.#deadline() - monotonicNow(clock)),
    );
  }

  /** Whether it holds right now, by the clock, not a timer. */
  valid(): boolean {
    return !this.#controller.signal.aborted && this.#confirmed &&
      monotonicNow(this.#session.clock) < this.#deadline();
  }

  /**
   * Ends it at once (its signal aborts) and tells the backend, at once or
   * once the leader's work returned (`until`).
   *
   * @param reason Why, for the log and the abort reason.
   */
  end(reason: string): void {
    if (this.#controller.signal.aborted) return;
    const session = this.#session;
    const { registration, instance } = this.#self;
    const term = this.#term;
    if (registration.term === term) delete registration.term;
    log.info("{id} is no longer leader of {service} (term {term}): {reason}", {
      id: instance.id,
      service: this.#service,
      term,
      reason,
    });
    this.#controller.abort(
      new LeadershipLostError(instance.id, this.#service, term, reason),
    );
    session.leadershipChanged?.(this.#service, "lost");
    const release = () =>
      session.driver.resign(registration, term).catch(() => {});
    const until = this.until;
    if (!until) {
      this.#resigned = release();
      return;
    }
    let timer: unknown;
    this.#resigned = Promise.race([
      until.work.then(() => {}, () => {}),
      new Promise<void>((resolve) => {
        timer = session.clock.setTimeout(resolve, until.boundMs);
      }),
    ]).then(() => {
      session.clock.clearTimeout(timer);
      return release();
    });
  }

  /** Resolves once the backend heard of the end. */
  resigned(): Promise<void> {
    return this.#resigned;
  }

  /**
   * The leadership as its holder sees it.
   *
   * @returns The leadership.
   */
  leadership(): Leadership {
    const signal = this.#controller.signal;
    return {
      instance: this.#self.instance,
      term: this.#term,
      fencing: this.#term,
      signal,
      valid: () => this.valid(),
      assertValid: () => {
        if (this.valid()) return;
        if (!signal.aborted) this.end("its lease may have run out");
        throw signal.reason;
      },
      release: () => {
        this.until?.done();
        this.end("it was released");
        return this.resigned();
      },
    };
  }
}
