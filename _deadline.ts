/**
 * One clock-aware deadline for every operation that must not take longer
 * than it may: the fake clock of a test moves it as it moves everything.
 *
 * @module
 */

import type { Clock } from "./clock.ts";

/**
 * Waits `ms` on `clock`, or until `signal` aborts, whichever comes first.
 *
 * @param clock The clock that measures it.
 * @param ms How long to wait.
 * @param signal Ends the wait early.
 * @returns A promise that resolves when the wait is over; it never rejects.
 */
export function sleepUnlessAborted(
  clock: Clock,
  ms: number,
  signal: AbortSignal,
): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clock.clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = clock.setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Settles as `work` does, or rejects with `expired()` after `ms` on `clock`.
 *
 * @param work The operation.
 * @param ms How long it may take.
 * @param clock The clock that measures it.
 * @param expired The error for an operation that took too long.
 * @returns What `work` resolves with.
 */
export function withDeadline<T>(
  work: Promise<T>,
  ms: number,
  clock: Clock,
  expired: () => Error,
): Promise<T> {
  let timer: unknown;
  const deadline = new Promise<never>((_, reject) => {
    timer = clock.setTimeout(() => reject(expired()), ms);
  });
  return Promise.race([work, deadline]).finally(() =>
    clock.clearTimeout(timer)
  );
}
