/**
 * Waiting until enough instances of a service are live.
 *
 * @module
 */

import { withDeadline } from "../_deadline.ts";
import type { Clock } from "../clock.ts";
import { parseDuration } from "../duration.ts";
import { ConfigError, WaitForTimeoutError } from "../errors.ts";
import type { Instance } from "../instance.ts";
import { selectInstances, type Selector } from "./select.ts";
import { type ChangeFeed, observeView, sortedView } from "./view.ts";

/** Options for `Registry.waitFor`. */
export interface WaitForOptions {
  /** How many live instances to wait for. Default 1. */
  min?: number;
  /** How long to wait: ms or a duration string. Default: no limit. */
  timeout?: number | string;
  /** Count only the instances that match. */
  filter?: Selector | ((instance: Instance) => boolean);
  /** Ends the wait early, rejecting with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Resolves with the live (matching) instances of `service`, oldest first,
 * once there are at least `min` of them in the feed's view.
 *
 * @param feed The registry's change feed.
 * @param service The service.
 * @param options How many, how long, which, and a signal to stop waiting.
 * @param clock The clock the timeout runs on.
 * @param stopped What to reject with when the feed closes first.
 * @returns The instances.
 */
export async function waitForInstances(
  feed: ChangeFeed,
  service: string,
  options: WaitForOptions,
  clock: Clock,
  stopped: () => Error,
): Promise<Instance[]> {
  const min = options.min ?? 1;
  if (!Number.isInteger(min) || min < 1) {
    throw new ConfigError(
      `Invalid 'min': ${min} must be a whole number of at least 1`,
      { field: "min" },
    );
  }
  const timeout = options.timeout === undefined
    ? undefined
    : parseDuration(options.timeout, "timeout");
  const filter = options.filter;
  const matches = typeof filter === "function"
    ? (list: Instance[]) => list.filter(filter)
    : filter
    ? (list: Instance[]) => selectInstances(list, filter)
    : (list: Instance[]) => list;
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  let last: Instance[] = [];
  const enough = (async () => {
    const views = observeView(
      feed,
      service,
      (view) => matches(sortedView(view, service)),
      () => false,
      stop.signal,
    );
    for await (const live of views) {
      last = live;
      if (live.length >= min) return live;
    }
    throw options.signal?.aborted ? options.signal.reason : stopped();
  })();
  try {
    return timeout === undefined ? await enough : await withDeadline(
      enough,
      timeout,
      clock,
      () => new WaitForTimeoutError(service, min, last.length, timeout),
    );
  } finally {
    stop.abort();
    options.signal?.removeEventListener("abort", onAbort);
    await enough.catch(() => {});
  }
}
