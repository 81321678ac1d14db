/**
 * When a process's heartbeats offer to purge an env. Offers only collect
 * garbage: a listing never shows a lapsed entry, and a watcher purges on
 * time itself. So an offer that finds nothing to do (a watcher purges the
 * env, or another process's offer came first) makes the next one come
 * later, up to once a minute; one that purged brings them back to once per
 * ttl (every 5 s at most), so an env nobody watches is still purged about
 * once per ttl by its fleet as a whole.
 *
 * @module
 */

/** The longest time between two offers of one process, in ms. */
export const MAX_OFFER_EVERY_MS = 60_000;
/** The shortest, whatever the ttl, in ms. */
export const MIN_OFFER_EVERY_MS = 5_000;

/** Per env, when this process last purged or offered to, and how often it offers. */
export class PurgeOffers {
  readonly #last = new Map<string, number>();
  readonly #every = new Map<string, number>();
  readonly #now: () => number;

  /** @param now A monotonic clock in ms (tests pass their own). */
  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /**
   * Notes a purge of `env` by this process, an offer or a watcher's.
   *
   * @param env The env.
   */
  purging(env: string): void {
    this.#last.set(env, this.#now());
  }

  /**
   * Whether a beat in `env` should offer to purge now. The first beat only
   * starts the count.
   *
   * @param env The env.
   * @param ttl The beating entry's ttl, in ms.
   * @returns True when an offer is due.
   */
  due(env: string, ttl: number): boolean {
    const last = this.#last.get(env);
    if (last === undefined) {
      this.#last.set(env, this.#now());
      return false;
    }
    return this.#now() - last >=
      (this.#every.get(env) ?? Math.max(ttl, MIN_OFFER_EVERY_MS));
  }

  /**
   * Sets when the next offer comes, from what this one found.
   *
   * @param env The env.
   * @param ttl The beating entry's ttl, in ms.
   * @param purged Whether the offer removed or scanned anything.
   */
  offered(env: string, ttl: number, purged: boolean): void {
    const base = Math.max(ttl, MIN_OFFER_EVERY_MS);
    const every = this.#every.get(env) ?? base;
    this.#every.set(
      env,
      purged ? base : Math.max(base, Math.min(every * 2, MAX_OFFER_EVERY_MS)),
    );
  }
}
