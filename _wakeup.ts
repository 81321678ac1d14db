/**
 * A wake-up call for loops that park until something happens: a change of
 * the view, a beat, an abort. A `wake()` that comes while nobody waits is
 * kept, so the next `wait()` returns at once and no wake-up is lost.
 *
 * @module
 */

/** Parks one waiter at a time until woken. */
export class Wakeup {
  #pending = false;
  #resolve: (() => void) | undefined;

  /** Wakes the waiter, or the next one to wait. */
  wake = (): void => {
    const resolve = this.#resolve;
    this.#resolve = undefined;
    if (resolve) resolve();
    else this.#pending = true;
  };

  /**
   * Resolves at the next wake-up, or at once if one came since the last.
   *
   * @returns A promise that resolves when woken.
   */
  wait(): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#resolve = resolve);
  }
}
