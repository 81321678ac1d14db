/**
 * Quorum: whether a majority of a service's expected members is live.
 *
 * @module
 */

import { type ChangeFeed, observeView, sortedView } from "./view.ts";

/** Whether enough members of a service are live. */
export interface QuorumState {
  /** The service. */
  service: string;
  /** How many members the service is meant to have. */
  expected: number;
  /** How many are live. */
  live: number;
  /** How many make a majority: `floor(expected / 2) + 1`. */
  needed: number;
  /** Whether `live` reaches `needed`. */
  reached: boolean;
}

/**
 * Computes a quorum state.
 *
 * @param service The service.
 * @param expected Its expected member count, at least 1.
 * @param live How many are live.
 * @returns The state.
 *
 * @example
 * ```ts
 * import { quorumState } from "@roster/roster";
 * import assert from "node:assert/strict";
 *
 * assert.equal(quorumState("db", 5, 3).reached, true);
 * assert.equal(quorumState("db", 4, 2).reached, false);
 * ```
 */
export function quorumState(
  service: string,
  expected: number,
  live: number,
): QuorumState {
  const needed = Math.floor(expected / 2) + 1;
  return { service, expected, live, needed, reached: live >= needed };
}

/**
 * Streams the quorum state of a service from a feed: first the current one,
 * then each change of the live count.
 *
 * @param feed The registry's change feed.
 * @param service The service.
 * @param expected How many members it should have.
 * @param signal Ends the stream.
 * @returns The quorum states.
 */
export function quorumChanges(
  feed: ChangeFeed,
  service: string,
  expected: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<QuorumState, void, undefined> {
  return observeView(
    feed,
    service,
    (view) => quorumState(service, expected, sortedView(view, service).length),
    (a, b) => a.live === b.live,
    signal,
  );
}
