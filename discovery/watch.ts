/**
 * Watching: an async iterable of joins, updates and leaves.
 *
 * @module
 */

import { Wakeup } from "../_wakeup.ts";
import {
  type ChangeFeed,
  sortedView,
  supersedes,
  type WatchEvent,
} from "./view.ts";
import type { Instance } from "../instance.ts";

export type { ViewState, WatchEvent } from "./view.ts";

/** Options for `Registry.watch`. */
export interface WatchOptions {
  /** Ends the watch. */
  signal?: AbortSignal;
  /** First report the instances already live, as joins with reason `current`. */
  current?: boolean;
}

/**
 * A watcher whose consumer falls this far behind stops queueing single
 * changes; it catches up by comparing what it reported with the view, so its
 * memory stays bounded and it still ends in the server's state.
 */
const MAX_QUEUED = 10_000;

/**
 * Follows a feed, for one service or all.
 *
 * @param feed The registry's change feed.
 * @param service Only this service, or all when undefined.
 * @param options The signal, and whether to start with the current instances.
 * @returns The events, in order.
 */
export async function* watchFeed(
  feed: ChangeFeed,
  service: string | undefined,
  options: WatchOptions = {},
): AsyncGenerator<WatchEvent, void, undefined> {
  const { signal } = options;
  const queue: WatchEvent[] = [];
  const wakeup = new Wakeup();
  let overflowed = false;
  let closed = false;
  const unsubscribe = feed.subscribe((message) => {
    if (message.kind === "state") {
      if (message.state === "closed") closed = true;
      wakeup.wake();
      return;
    }
    if (service !== undefined && message.event.instance.service !== service) {
      return;
    }
    if (queue.length >= MAX_QUEUED) {
      queue.length = 0;
      overflowed = true;
    } else queue.push(message.event);
    wakeup.wake();
  });
  signal?.addEventListener("abort", wakeup.wake);
  // What this watcher has reported: it drops duplicates, and it is what a
  // watcher that fell behind compares with the view.
  const reported = new Map<string, Instance>();
  try {
    await Promise.race([feed.ready().catch(() => {}), wakeup.wait()]);
    if (signal?.aborted || feed.state === "closed") return;
    for (const instance of sortedView(feed, service, "all")) {
      reported.set(instance.id, instance);
      if (options.current) {
        yield { type: "join", reason: "current", instance };
      }
    }
    while (!signal?.aborted && !closed) {
      if (overflowed) {
        overflowed = false;
        queue.length = 0;
        yield* catchUp(reported, sortedView(feed, service, "all"));
        continue;
      }
      const event = queue.shift();
      if (!event) {
        await wakeup.wait();
        continue;
      }
      const known = reported.get(event.instance.id);
      if (event.type === "leave") {
        if (!known || known.seq !== event.instance.seq) continue;
        reported.delete(event.instance.id);
      } else {
        if (known && !supersedes(event.instance, known)) continue;
        reported.set(event.instance.id, event.instance);
        if (!known && event.type === "update") {
          yield { ...event, type: "join" };
          continue;
        }
      }
      yield event;
    }
  } finally {
    unsubscribe();
    signal?.removeEventListener("abort", wakeup.wake);
  }
}

function* catchUp(
  reported: Map<string, Instance>,
  live: Instance[],
): Generator<WatchEvent> {
  const now = new Map(live.map((i) => [i.id, i]));
  for (const [id, instance] of [...reported]) {
    if (!now.has(id)) {
      reported.delete(id);
      yield { type: "leave", reason: "resync", instance };
    }
  }
  for (const instance of live) {
    const known = reported.get(instance.id);
    if (known && !supersedes(instance, known)) continue;
    reported.set(instance.id, instance);
    yield { type: known ? "update" : "join", reason: "resync", instance };
  }
}
