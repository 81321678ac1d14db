/**
 * What the status server shows: one last known snapshot of the env, read
 * once per change (or per refresh period) however many pages and event
 * streams are open, and honest about its age when the backend cannot be
 * reached.
 *
 * @module
 */

import type { Instance, Registry } from "../mod.ts";

/** How often the view is read again while anyone follows it. */
const REFRESH_MS = 1_000;

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
  /** Since when the view is stale. */
  staleSince?: number;
  /** The leader (oldest live, healthy instance) of each service. */
  leaders: Record<string, string>;
  /** The last known instances, healthy or not. */
  instances: Instance[];
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

  /**
   * Creates the view.
   *
   * @param registry The registry to read.
   */
  constructor(registry: Registry) {
    this.#registry = registry;
  }

  /** Whether the last read reached the backend. */
  get up(): boolean {
    return this.#error === undefined && this.#readAt > 0;
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
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.#error = message.split("\n")[0]?.slice(0, 200) ?? "unknown";
      this.#staleSince ??= Date.now();
    }
    const snapshot = this.snapshot();
    for (const follower of this.#followers) follower(snapshot);
  }

  /**
   * The last known state, without reading.
   *
   * @returns The snapshot.
   */
  snapshot(): StatusSnapshot {
    const leaders: Record<string, string> = {};
    for (const instance of this.#instances) {
      if (instance.status === "healthy" && !(instance.service in leaders)) {
        leaders[instance.service] = instance.id;
      }
    }
    const stale = this.#error !== undefined;
    return {
      env: this.#registry.env,
      now: Date.now(),
      readAt: this.#readAt,
      view: stale ? "stale" : "live",
      ...(stale ? { error: this.#error, staleSince: this.#staleSince } : {}),
      leaders,
      instances: this.#instances,
    };
  }

  /**
   * Calls `follower` with every new snapshot, read on each change and every
   * second while anyone follows.
   *
   * @param follower Receives each snapshot.
   * @returns A function that stops following.
   */
  follow(follower: (snapshot: StatusSnapshot) => void): () => void {
    this.#followers.add(follower);
    if (this.#followers.size === 1) this.#start();
    void this.refresh();
    return () => {
      if (this.#followers.delete(follower) && this.#followers.size === 0) {
        this.#stop();
      }
    };
  }

  #start(): void {
    this.#timer = setInterval(() => void this.refresh(), REFRESH_MS);
    const watching = this.#watching = new AbortController();
    // Changes go out at once, not at the next refresh.
    (async () => {
      for await (
        const _ of this.#registry.watch(undefined, { signal: watching.signal })
      ) {
        void this.refresh();
      }
    })().catch(() => {});
  }

  #stop(): void {
    clearInterval(this.#timer);
    this.#watching?.abort();
  }

  /** Stops following for everyone. */
  close(): void {
    this.#followers.clear();
    this.#stop();
  }
}
