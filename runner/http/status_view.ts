/**
 * What the status server shows: one last known snapshot of the env, read
 * once per change (or per refresh period) however many pages and event
 * streams are open, honest about its age when the backend cannot be
 * reached, with a log of the latest joins, leaves and leader changes.
 *
 * @module
 */

import {
  type Instance,
  type Registry,
  takesWork,
  type WatchEvent,
} from "../../mod.ts";
import { StatusHistory, type StatusHistoryAnswer } from "./status_history.ts";

/** How often the view is read again while anyone follows it. */
const REFRESH_MS = 1_000;

/** How many events the log keeps. */
export const EVENT_LOG_SIZE = 200;

/** A beat this many of the instance's own intervals overdue makes it late. */
export const LATE_AFTER_INTERVALS = 1.5;

/** The most services whose counts are kept after they empty. */
const MAX_SERVICES = 1_000;

/** An instance as the status server shows it. */
export interface StatusInstance extends Instance {
  /**
   * Its last beat is more than 1.5 of its own heartbeat intervals old: it
   * is still listed, but may have died. Judged by this process's clock
   * against the backend's heartbeat time, so a clock offset shifts it.
   */
  late: boolean;
  /**
   * Its service is under eviction protection and it expired by its own
   * times: the view holds it, as it may only have lost its link.
   */
  held?: boolean;
}

/** A service whose expiries the eviction safety valve holds. */
export interface StatusProtection {
  /** Since when, in ms since the epoch. */
  since: number;
  /** When it ends at the latest, in ms since the epoch. */
  until: number;
}

/** One line of the event log. */
export interface StatusEvent {
  /** Rises by one per event, so a page can tell new events from seen ones. */
  n: number;
  /** When this view learnt of it, in ms since the epoch. */
  at: number;
  /**
   * `join`, `leave`, `update` (registered again, or its health changed),
   * `leader`, or `protection` (the eviction safety valve began, reason
   * `on`, or ended: `beats resumed` or `bound passed`).
   */
  type: "join" | "leave" | "update" | "leader" | "protection";
  /** The service. */
  service: string;
  /** The instance; for `leader`, the new leader, empty when none is left. */
  id: string;
  /**
   * Why: `registered`, `reregistered`, `deregistered`, `expired`, `resync`,
   * `healthy` or `unhealthy`; for `leader`, the previous leader or empty.
   */
  reason: string;
}

/** How many instances a service has. */
export interface ServiceCount {
  /** Live instances, healthy or not. */
  live: number;
  /** Those that take work (healthy or warning). */
  healthy: number;
}

/** What this process knows of its own instance, beyond the registry. */
export interface SelfDetail {
  /** Its id. */
  id: string;
  /** How long the last heartbeat took, in ms. */
  heartbeatLatency?: number;
  /**
   * Each heartbeat of the last hour, `[at, ms]`: drawn by the dashboard
   * from `GET /history`, never sent with every snapshot.
   */
  latencies?: [number, number][];
  /** The health check's last result. */
  check?: {
    /** It passed (or only warned). */
    ok: boolean;
    /** It warned. */
    warning?: boolean;
    /** Why it failed or warns: its error or status code, in one line. */
    error?: string;
    /** What it printed last: a command's last KiB, an HTTP status. */
    output?: string;
    /** When it ran, in ms since the epoch. */
    at: number;
    /** How long it took, in ms. */
    duration: number;
  };
}

/** One snapshot of the env, as the dashboard and `/instances` show it. */
export interface StatusSnapshot {
  /** The env. */
  env: string;
  /** When this answer was made, in ms since the epoch. */
  now: number;
  /** When the instances were last read from the backend. */
  readAt: number;
  /** `live`, or `stale` while the backend cannot be reached. */
  view: "live" | "stale";
  /** The last read error, in one line, while stale. */
  error?: string;
  /** Since when the view is stale: its last good read (or its first try). */
  staleSince?: number;
  /** The leader (oldest live, healthy instance) of each service. */
  leaders: Record<string, string>;
  /** The services under eviction protection now. */
  protection: Record<string, StatusProtection>;
  /** Every service seen, with its counts; one that emptied stays at 0. */
  services: Record<string, ServiceCount>;
  /** The last known instances, healthy or not. */
  instances: StatusInstance[];
  /** The latest events, oldest first; see {@linkcode StatusView.snapshot}. */
  events: StatusEvent[];
  /** This process's own instance, when it registered one. */
  self?: SelfDetail;
}

/** Whether an instance's last beat is overdue by its own interval. */
export function isLate(instance: Instance, now: number): boolean {
  return instance.heartbeatInterval > 0 &&
    now - instance.heartbeatAt >
      LATE_AFTER_INTERVALS * instance.heartbeatInterval;
}

/** A copy of the detail for a snapshot, without the hour of latencies. */
function withoutLatencies(detail: SelfDetail): SelfDetail {
  const { latencies: _, ...rest } = detail;
  return rest;
}

function errorLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0]?.slice(0, 200) || "unknown";
}

/** The env's last known state, shared by every reader of the status server. */
export class StatusView {
  readonly #registry: Registry;
  #instances: Instance[] = [];
  #readAt = 0;
  #error: string | undefined;
  #staleSince: number | undefined;
  #reading: Promise<void> | undefined;
  readonly #followers = new Set<(snapshot: StatusSnapshot) => void>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #watching: AbortController | undefined;
  readonly #events: StatusEvent[] = [];
  #eventCount = 0;
  #leaders: Record<string, string> | undefined;
  readonly #services = new Set<string>();
  #self: SelfDetail | undefined;
  #sentUpTo = 0;
  readonly #protection = new Map<string, StatusProtection>();
  #offProtection: (() => void) | undefined;
  readonly #onEvent: ((type: WatchEvent["type"]) => void) | undefined;
  readonly #history = new StatusHistory(Date.now());

  /**
   * Creates the view.
   *
   * @param registry The registry to read, on a connection of its own.
   * @param options `onEvent` is told the type of every change seen.
   */
  constructor(
    registry: Registry,
    options: { onEvent?: (type: WatchEvent["type"]) => void } = {},
  ) {
    this.#registry = registry;
    this.#onEvent = options.onEvent;
  }

  /** Whether the last read reached the backend. */
  get up(): boolean {
    return this.#error === undefined && this.#readAt > 0;
  }

  /** `connecting` before the first read, then `live` or `stale`. */
  get state(): "connecting" | "live" | "stale" {
    return this.#error !== undefined
      ? "stale"
      : this.#readAt > 0
      ? "live"
      : "connecting";
  }

  /**
   * Shows this process's own instance in detail: heartbeat latency and the
   * health check's last result.
   *
   * @param detail The detail, updated in place by its owner.
   */
  showSelf(detail: SelfDetail): void {
    this.#self = detail;
  }

  /**
   * Starts keeping the event log: from now on every join, leave and leader
   * change is recorded, whether or not anyone follows.
   */
  start(): void {
    if (this.#watching) return;
    const watching = this.#watching = new AbortController();
    this.#offProtection = this.#registry.on("protection", (change) => {
      if (change.on) {
        // The runner's registries run on the system clock.
        this.#protection.set(change.service, {
          since: Date.now(),
          until: change.until ?? Date.now(),
        });
      } else this.#protection.delete(change.service);
      this.#history.protection(change.service, Date.now(), change.on);
      this.#log(
        "protection",
        change.service,
        change.held.map((i) => i.id).join(" "),
        change.reason ?? "on",
      );
      void this.refresh();
    });
    (async () => {
      for await (
        const event of this.#registry.watch(undefined, {
          signal: watching.signal,
        })
      ) {
        this.#record(event);
        // Changes go out at once, not at the next refresh.
        void this.refresh();
      }
    })().catch(() => {});
  }

  #record(event: WatchEvent): void {
    if (event.reason === "current") return;
    this.#onEvent?.(event.type);
    const { service, id, status } = event.instance;
    if (event.type !== "update") {
      this.#history.event(service, Date.now(), event.type);
    }
    this.#log(
      event.type,
      service,
      id,
      event.type === "update" && event.reason === "reregistered"
        ? event.reason
        : event.type === "update"
        ? status
        : event.reason,
    );
  }

  #log(
    type: StatusEvent["type"],
    service: string,
    id: string,
    reason: string,
  ): void {
    this.#events.push({
      n: ++this.#eventCount,
      at: Date.now(),
      type,
      service,
      id,
      reason,
    });
    if (this.#events.length > EVENT_LOG_SIZE) this.#events.shift();
  }

  /** Records each service's live count (held instances are not live). */
  #noteCounts(now: number): void {
    const live = new Map<string, number>();
    for (const service of this.#services) live.set(service, 0);
    for (const instance of this.#instances) {
      if (this.#isHeld(instance, now)) continue;
      live.set(instance.service, (live.get(instance.service) ?? 0) + 1);
    }
    for (const [service, count] of live) {
      this.#history.count(service, now, count);
    }
  }

  /**
   * The last hour, as `GET /history` answers it.
   *
   * @returns Per service its live count, joins, leaves and protection
   *   periods; this process's heartbeat latency.
   */
  history(): StatusHistoryAnswer {
    return this.#history.answer(Date.now(), this.#self?.latencies ?? []);
  }

  /**
   * Reads the env again, once however many callers ask at the same time.
   *
   * @returns The snapshot after the read, fresh or last known.
   */
  async refresh(): Promise<StatusSnapshot> {
    this.#reading ??= this.#read().finally(() => this.#reading = undefined);
    await this.#reading;
    return this.snapshot();
  }

  async #read(): Promise<void> {
    try {
      this.#instances = await this.#registry.allInstances();
      this.#readAt = Date.now();
      this.#error = undefined;
      this.#staleSince = undefined;
      this.#noteLeaders();
      this.#noteCounts(this.#readAt);
    } catch (error) {
      this.#error = errorLine(error);
      // Stale since what is shown was last true: the last good read.
      this.#staleSince ??= this.#readAt || Date.now();
    }
    if (this.#followers.size === 0) return;
    // One snapshot for every follower, carrying only the events since the
    // last one they were all sent.
    const snapshot = this.snapshot({ since: this.#sentUpTo });
    this.#sentUpTo = this.#eventCount;
    for (const follower of this.#followers) follower(snapshot);
  }

  /**
   * Whether eviction protection holds an instance: its service is under
   * protection and it expired by its own times. It may only have lost its
   * link, or be dead; either way it is not live.
   */
  #isHeld(instance: Instance, now: number): boolean {
    return this.#protection.has(instance.service) && instance.expiresAt <= now;
  }

  #leadersOf(instances: readonly Instance[]): Record<string, string> {
    const leaders: Record<string, string> = {};
    const now = Date.now();
    for (const instance of instances) {
      if (
        takesWork(instance) && !this.#isHeld(instance, now) &&
        !(instance.service in leaders)
      ) {
        leaders[instance.service] = instance.id;
      }
    }
    return leaders;
  }

  /** Logs each service whose leader differs from the last read's. */
  #noteLeaders(): void {
    const leaders = this.#leadersOf(this.#instances);
    for (const instance of this.#instances) {
      if (this.#services.size >= MAX_SERVICES) break;
      this.#services.add(instance.service);
    }
    const before = this.#leaders;
    this.#leaders = leaders;
    if (before === undefined) return;
    for (
      const service of new Set([
        ...Object.keys(before),
        ...Object.keys(leaders),
      ])
    ) {
      if (before[service] !== leaders[service]) {
        this.#log(
          "leader",
          service,
          leaders[service] ?? "",
          before[service] ?? "",
        );
      }
    }
  }

  /**
   * The last known state, without reading.
   *
   * @param options `since`: only events after this `n` (a page that has
   *   them already); all kept events by default.
   * @returns The snapshot.
   */
  snapshot(options: { since?: number } = {}): StatusSnapshot {
    const now = Date.now();
    const stale = this.#error !== undefined;
    const services: Record<string, ServiceCount> = {};
    for (const service of [...this.#services].sort()) {
      services[service] = { live: 0, healthy: 0 };
    }
    const instances = this.#instances.map((instance) => {
      const count = services[instance.service] ??= { live: 0, healthy: 0 };
      const held = this.#isHeld(instance, now);
      // A held instance is listed (marked held) but counts as neither live
      // nor healthy: nobody may be live at all.
      if (!held) {
        count.live++;
        if (takesWork(instance)) count.healthy++;
      }
      return {
        ...instance,
        late: isLate(instance, now),
        ...(held ? { held } : {}),
      };
    });
    const since = options.since ?? 0;
    return {
      env: this.#registry.env,
      now,
      readAt: this.#readAt,
      view: stale ? "stale" : "live",
      ...(stale ? { error: this.#error, staleSince: this.#staleSince } : {}),
      leaders: this.#leadersOf(this.#instances),
      protection: Object.fromEntries(this.#protection),
      services,
      instances,
      events: since === 0
        ? [...this.#events]
        : this.#events.filter((event) => event.n > since),
      ...(this.#self ? { self: withoutLatencies(this.#self) } : {}),
    };
  }

  /**
   * Calls `follower` with every new snapshot, read on each change and every
   * second while anyone follows. Each snapshot's `events` are those since
   * the previous one it was given; the first has them all.
   *
   * @param follower Receives each snapshot.
   * @returns A function that stops following.
   */
  follow(follower: (snapshot: StatusSnapshot) => void): () => void {
    this.#followers.add(follower);
    // A newcomer gets the whole log at once; later snapshots, shared with
    // everyone, may repeat some events, which the page tells apart by `n`.
    if (this.#readAt > 0 || this.#error !== undefined) {
      follower(this.snapshot());
    }
    if (this.#followers.size === 1) {
      this.#timer = setInterval(() => void this.refresh(), REFRESH_MS);
    }
    // A page that opens its next stream needs no read of its own: it got
    // the last one above, and the next comes within REFRESH_MS.
    if (Date.now() - this.#readAt >= REFRESH_MS) void this.refresh();
    return () => {
      if (this.#followers.delete(follower) && this.#followers.size === 0) {
        clearInterval(this.#timer);
      }
    };
  }

  /** Stops following for everyone, and stops keeping the event log. */
  close(): void {
    this.#followers.clear();
    clearInterval(this.#timer);
    this.#watching?.abort();
    this.#offProtection?.();
  }
}
