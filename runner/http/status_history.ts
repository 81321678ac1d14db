/**
 * The last hour of the env as the dashboard draws it (`GET /history`): per
 * service, the count of live instances over time with its joins, leaves and
 * eviction-protection periods; and this process's own heartbeat latency.
 * Everything older than an hour is let go, and every list is capped, so a
 * flapping fleet cannot grow it.
 *
 * @module
 */

/** How far back the history reaches, in ms. */
export const HISTORY_MS = 3_600_000;
/** A count that has not changed is still recorded this often, in ms. */
const STEADY_POINT_MS = 60_000;
/** The most points or marks one list keeps. */
const MAX_POINTS = 4_000;

/** One service's last hour. */
export interface ServiceHistory {
  /** `[at, live]`: the count of live instances from `at` on. */
  counts: [number, number][];
  /** When instances joined. */
  joins: number[];
  /** When instances left. */
  leaves: number[];
  /** `[from, to]` of each protection period; `to` is null while it lasts. */
  protection: [number, number | null][];
}

/** What `GET /history` answers. */
export interface StatusHistoryAnswer {
  /** When this answer was made, in ms since the epoch. */
  now: number;
  /** Where it starts: an hour ago, or when the history began if later. */
  from: number;
  /** Each service seen within the hour. */
  services: Record<string, ServiceHistory>;
  /** This process's heartbeats, `[at, ms]`; empty when it registers none. */
  latency: [number, number][];
}

function pushCapped<T>(list: T[], item: T): void {
  list.push(item);
  if (list.length > MAX_POINTS) list.splice(0, list.length - MAX_POINTS);
}

/**
 * Appends a heartbeat's latency to `into`, letting go of what is older
 * than the history reaches.
 *
 * @param into The list, `[at, ms]`, oldest first.
 * @param at When the beat landed, in ms since the epoch.
 * @param ms How long it took.
 *
 * @example
 * ```ts
 * import { recordLatency } from "./status_history.ts";
 * import assert from "node:assert/strict";
 *
 * const latencies: [number, number][] = [];
 * recordLatency(latencies, 1_000, 2);
 * assert.deepEqual(latencies, [[1_000, 2]]);
 * ```
 */
export function recordLatency(
  into: [number, number][],
  at: number,
  ms: number,
): void {
  pushCapped(into, [at, ms]);
  let old = 0;
  while (old < into.length && into[old]![0] < at - HISTORY_MS) old++;
  if (old > 0) into.splice(0, old);
}

/**
 * Keeps the last hour of an env's services.
 *
 * @example
 * ```ts
 * import { StatusHistory } from "./status_history.ts";
 * import assert from "node:assert/strict";
 *
 * const history = new StatusHistory();
 * history.count("api", 1_000, 2);
 * history.event("api", 1_500, "leave");
 * history.count("api", 1_500, 1);
 * const { services } = history.answer(2_000, []);
 * assert.deepEqual(services.api?.counts, [[1_000, 2], [1_500, 1]]);
 * assert.deepEqual(services.api?.leaves, [1_500]);
 * ```
 */
export class StatusHistory {
  readonly #services = new Map<string, ServiceHistory>();
  readonly #began: number;

  /**
   * Starts a history.
   *
   * @param began When it began, in ms since the epoch: a chart of a view
   *   younger than an hour spans its life, not an empty hour.
   */
  constructor(began = 0) {
    this.#began = began;
  }

  #of(service: string): ServiceHistory {
    let history = this.#services.get(service);
    if (!history) {
      history = { counts: [], joins: [], leaves: [], protection: [] };
      this.#services.set(service, history);
    }
    return history;
  }

  /**
   * Records a service's live count, read at `at`: a point when it changed,
   * or when the last is a minute old.
   *
   * @param service The service.
   * @param at When it was read, in ms since the epoch.
   * @param live Its live instances.
   */
  count(service: string, at: number, live: number): void {
    const { counts } = this.#of(service);
    const last = counts.at(-1);
    if (last && last[1] === live && at - last[0] < STEADY_POINT_MS) return;
    pushCapped(counts, [at, live]);
  }

  /**
   * Records a join or a leave.
   *
   * @param service The service.
   * @param at When it was seen, in ms since the epoch.
   * @param type Which.
   */
  event(service: string, at: number, type: "join" | "leave"): void {
    const history = this.#of(service);
    pushCapped(type === "join" ? history.joins : history.leaves, at);
  }

  /**
   * Records protection beginning or ending.
   *
   * @param service The service.
   * @param at When, in ms since the epoch.
   * @param on Whether it began.
   */
  protection(service: string, at: number, on: boolean): void {
    const { protection } = this.#of(service);
    const open = protection.at(-1);
    if (on) {
      if (!open || open[1] !== null) pushCapped(protection, [at, null]);
    } else if (open && open[1] === null) open[1] = at;
  }

  /**
   * The last hour, older records let go.
   *
   * @param now Now, in ms since the epoch.
   * @param latency This process's heartbeats, `[at, ms]`.
   * @returns The answer for `GET /history`.
   */
  answer(now: number, latency: [number, number][]): StatusHistoryAnswer {
    const hourAgo = now - HISTORY_MS;
    const from = Math.max(hourAgo, this.#began);
    const services: Record<string, ServiceHistory> = {};
    for (const [service, history] of [...this.#services].sort()) {
      // Keep the point in force at `from`: the line starts there.
      const firstKept = history.counts.findIndex(([at]) => at >= hourAgo);
      if (firstKept > 1) history.counts.splice(0, firstKept - 1);
      else if (firstKept === -1 && history.counts.length > 1) {
        history.counts.splice(0, history.counts.length - 1);
      }
      history.joins = history.joins.filter((at) => at >= hourAgo);
      history.leaves = history.leaves.filter((at) => at >= hourAgo);
      history.protection = history.protection.filter(([, to]) =>
        to === null || to >= hourAgo
      );
      const empty = history.counts.every(([, live]) => live === 0) &&
        history.joins.length === 0 && history.leaves.length === 0 &&
        history.protection.length === 0;
      if (empty && (history.counts.at(-1)?.[0] ?? 0) < hourAgo) {
        this.#services.delete(service);
        continue;
      }
      services[service] = {
        counts: history.counts.map(([at, live]) => [at, live]),
        joins: [...history.joins],
        leaves: [...history.leaves],
        protection: history.protection.map(([a, b]) => [a, b]),
      };
    }
    return {
      now,
      from,
      services,
      latency: latency.filter(([at]) => at >= hourAgo),
    };
  }
}
