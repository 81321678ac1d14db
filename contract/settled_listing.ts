/**
 * A listing that tells a crash from beats held back. Entries that lapsed
 * with no beat after them look the same after a crash and under a write
 * pause or a lock that holds the beats back: the listing tests a write
 * first, and where the write waited, or some of those owners beat since,
 * reads again until their held beats land.
 *
 * @module
 */

import type { Instance } from "../instance.ts";

/** A lapse that a pause of writes explains as well as a crash. */
export interface DoubtfulLapse {
  /** The instance's id. */
  id: string;
  /**
   * Its heartbeat interval, in ms: after a failed beat its owner tries
   * again within half of it (see the heartbeat loop's backoff).
   */
  heartbeatInterval: number;
}

/** What one read of a listing gives. */
export interface ListingRead {
  /** The live instances. */
  instances: Instance[];
  /** The lapses no beat came after. */
  doubtful: DoubtfulLapse[];
}

/** How far apart the reads are while held beats land, in ms. */
export const SETTLE_READ_MS = 40;
/** What a held beat's own way may add to half an interval, in ms. */
export const SETTLE_SLACK_MS = 100;
/** The longest a listing waits for held beats, in ms. */
export const MAX_SETTLE_MS = 3_000;
/**
 * A test write that took this long waited out a pause: well above a
 * round trip, well below any command timeout.
 */
export const SETTLE_STALL_MS = 25;

/**
 * Reads with `first`; where lapses no beat came after show, tests a write
 * with `confirmWrites` (which throws when it does not land, so the listing
 * fails rather than answer short) and reads again with `again`. Where the
 * write waited, or some of those owners beat since, writes were held back,
 * not those owners crashed: it reads again until each of them is back, or
 * half the longest of their intervals (and a slack) passed.
 *
 * @param first The first read.
 * @param again A read after the test write.
 * @param confirmWrites The test write; resolves with how long it took, in ms.
 * @returns The last read.
 *
 * @example
 * ```ts
 * import { settledListing } from "./settled_listing.ts";
 * import assert from "node:assert/strict";
 *
 * const read = () => Promise.resolve({ instances: [], doubtful: [] });
 * const answer = await settledListing(read, read, () => Promise.resolve(0));
 * assert.deepEqual(answer.instances, []);
 * ```
 */
export async function settledListing<T extends ListingRead>(
  first: () => Promise<T>,
  again: () => Promise<T>,
  confirmWrites: () => Promise<number>,
): Promise<T> {
  let answer = await first();
  const held = answer.doubtful;
  if (held.length === 0) return answer;
  const waited = await confirmWrites();
  answer = await again();
  const heldIds = new Set(held.map((lapse) => lapse.id));
  const returned = (instances: Instance[]) =>
    instances.filter((instance) => heldIds.has(instance.id)).length;
  const paused = waited >= SETTLE_STALL_MS || returned(answer.instances) > 0;
  if (!paused) return answer;
  const longest = Math.max(...held.map((lapse) => lapse.heartbeatInterval));
  const until = performance.now() +
    Math.min(longest / 2 + SETTLE_SLACK_MS, MAX_SETTLE_MS);
  while (
    returned(answer.instances) < heldIds.size && performance.now() < until
  ) {
    await new Promise((resolve) => setTimeout(resolve, SETTLE_READ_MS));
    answer = await again();
  }
  return answer;
}
