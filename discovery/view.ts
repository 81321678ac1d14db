import { sleepUnlessAborted } from "../_deadline.ts";
import { errorMessage, errorStack, logger } from "../_logger.ts";
import { Wakeup } from "../_wakeup.ts";
import type { Clock } from "../clock.ts";
import type {
  Change,
  ChangeReason,
  Driver,
  Snapshot,
} from "../contract/driver.ts";
import { ChangeLogGapError } from "../errors.ts";
import { type Instance, takesWork } from "../instance.ts";
import {
  EvictionProtection,
  type EvictionProtectionOptions,
  type ProtectionChange,
} from "./eviction_protection.ts";

const log = logger("watch");

/**
 * The longest wait between attempts to reach a backend that failed: a
 * watcher must learn what happened while the backend was away (a crash
 * just before it) within a second of its return, so the wait stays well
 * under that.
 */
const MAX_RETRY_MS = 250;

/** A change in the set of live instances, as a watcher sees it. */
export interface WatchEvent {
  /**
   * `join`: a new instance; `update`: an instance registered again under
   * the same id (a new `seq`, after its lease was lost); `leave`: gone.
   */
  type: "join" | "update" | "leave";
  /**
   * Why: `registered`, `reregistered`, `deregistered` (a clean stop),
   * `expired` (its ttl ran out), or `resync` (found by comparing with the
   * backend after changes could not be read one by one).
   */
  reason: ChangeReason | "current";
  /** The instance; for a leave, as it was last seen. */
  instance: Instance;
}

/** Whether `next` is newer news of an instance than `known`. */
export function supersedes(next: Instance, known: Instance): boolean {
  return next.seq > known.seq ||
    (next.seq === known.seq && next.status !== known.status);
}

/**
 * Whether the view follows the backend (`live`), could not reach it
 * (`stale`), has not yet read it (`connecting`), or was closed (`closed`).
 */
export type ViewState = "connecting" | "live" | "stale" | "closed";

/** What a feed tells its subscribers. */
export type FeedMessage =
  | { kind: "event"; event: WatchEvent }
  | { kind: "state"; state: ViewState; error?: unknown };

/** Options for a {@linkcode ChangeFeed}. */
export interface ChangeFeedOptions {
  /**
   * How often expired entries are purged, so expiries are reported, when
   * the driver does not say when purging is next worth it.
   */
  purgeEvery: number;
  /** The longest one read of the change log waits. */
  pollWait: number;
  /** The eviction safety valve; none when undefined. */
  protection?: Required<EvictionProtectionOptions>;
  /** Told when a service's protection begins or ends. */
  onProtection?: (change: ProtectionChange) => void;
}

/**
 * Follows one env's change log and keeps a view of its live instances. One
 * feed serves every watcher, cached view and election of a registry: a
 * single reader per process, however many listeners.
 *
 * Changes are applied by `seq`, so none is reported twice; when the log has
 * a gap (trimmed, or the backend lost its data) the feed compares its view
 * with a fresh snapshot and reports the difference, so none is lost. While
 * the backend cannot be reached, the view stays as it was and is `stale`.
 */
export class ChangeFeed {
  readonly view = new Map<string, Instance>();
  /** Bumped on every change of the view, so readers can cache what they derive. */
  version = 0;
  readonly #driver: Driver;
  readonly #env: string;
  readonly #clock: Clock;
  readonly #options: ChangeFeedOptions;
  readonly #subscribers = new Set<(message: FeedMessage) => void>();
  readonly #abort = new AbortController();
  #state: ViewState = "connecting";
  #cursor: string | undefined;
  #ready = deferred<void>();
  #running: Promise<void> | undefined;
  #nextPurge = 0;
  #hasSnapshot = false;
  /** Whether the next snapshot follows a loss of the backend's data. */
  #dataLost = false;
  /**
   * Instances kept in the view after the backend lost its data, until they
   * register again or had a ttl to do so: the backend's silence about them
   * is no evidence that they died.
   */
  readonly #keptAfterLoss = new Map<string, number>();
  readonly #protection: EvictionProtection | undefined;
  /** How many instances of each service the view holds. */
  readonly #perService = new Map<string, number>();

  constructor(
    driver: Driver,
    env: string,
    clock: Clock,
    options: ChangeFeedOptions,
  ) {
    this.#driver = driver;
    this.#env = env;
    this.#clock = clock;
    this.#options = options;
    this.#protection = options.protection &&
      new EvictionProtection(options.protection);
    // Nobody may be awaiting it yet; a rejection must not go unhandled.
    this.#ready.promise.catch(() => {});
  }

  get state(): ViewState {
    return this.#state;
  }

  /** Resolves once the first snapshot is in, rejects if the feed closes first. */
  ready(): Promise<void> {
    this.#running ??= this.#run();
    return this.#ready.promise;
  }

  subscribe(subscriber: (message: FeedMessage) => void): () => void {
    this.#subscribers.add(subscriber);
    this.#running ??= this.#run();
    return () => this.#subscribers.delete(subscriber);
  }

  async close(): Promise<void> {
    this.#abort.abort();
    this.#ready.reject(new Error("the watch was closed"));
    await this.#running;
    this.#setState("closed");
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#abort.signal.aborted) {
      try {
        this.#releaseDue();
        if (this.#cursor === undefined) {
          this.#resync(await this.#driver.snapshot(this.#env));
        }
        const now = this.#clock.now();
        if (now >= this.#nextPurge) {
          const again = await this.#driver.purge(this.#env);
          this.#nextPurge = now + (again ?? this.#options.purgeEvery);
        }
        const batch = await this.#driver.changes(
          this.#env,
          this.#cursor as string,
          {
            waitMs: Math.max(
              0,
              Math.min(
                this.#options.pollWait,
                this.#wakeAt() - this.#clock.now(),
              ),
            ),
            signal: this.#abort.signal,
          },
        );
        for (const change of batch.changes) this.#apply(change);
        this.#cursor = batch.cursor;
        // The backend's word on its next purge, read after any join above
        // lowered it.
        if (batch.purgeIn !== undefined) {
          this.#nextPurge = this.#clock.now() + batch.purgeIn;
        }
        failures = 0;
        this.#setState("live");
      } catch (error) {
        if (this.#abort.signal.aborted) break;
        if (error instanceof ChangeLogGapError) {
          log.info(
            "Changes in env {env} were lost; comparing with a fresh snapshot",
            {
              env: this.#env,
            },
          );
          this.#dataLost ||= error.dataLost;
          this.#cursor = undefined;
          continue;
        }
        failures++;
        if (this.#state !== "stale") {
          log.warn(
            "The view of env {env} is stale: {error}; keeping the last known instances and retrying",
            { env: this.#env, error: errorMessage(error) },
          );
        }
        log.debug("Reading the view of env {env} failed: {stack}", {
          env: this.#env,
          stack: errorStack(error),
        });
        this.#setState("stale", error);
        await sleepUnlessAborted(
          this.#clock,
          Math.min(50 * 2 ** failures, MAX_RETRY_MS),
          this.#abort.signal,
        );
      }
    }
  }

  /**
   * Applies a snapshot: the first one quietly, later ones as a diff. After
   * the backend lost its data, instances missing from the snapshot are held,
   * not dropped: live ones register again within an interval.
   */
  #resync(snapshot: Snapshot): void {
    const first = !this.#hasSnapshot;
    this.#hasSnapshot = true;
    const hold = this.#dataLost;
    this.#dataLost = false;
    const fresh = new Map(snapshot.instances.map((i) => [i.id, i]));
    const now = this.#clock.now();
    if (!first) {
      for (const [id, instance] of this.view) {
        if (fresh.has(id) || this.#protection?.isHeld(instance)) continue;
        // Held after an earlier loss, with time left to come back.
        if ((this.#keptAfterLoss.get(id) ?? -Infinity) > now) continue;
        if (hold) {
          if (!this.#keptAfterLoss.has(id)) {
            this.#keptAfterLoss.set(id, this.#clock.now() + leaseOf(instance));
          }
          continue;
        }
        this.#remove(instance, "resync");
      }
    }
    for (const instance of snapshot.instances) {
      const known = this.view.get(instance.id);
      this.#keptAfterLoss.delete(instance.id);
      this.#unprotect(instance);
      this.#put(instance, known);
      if (first) continue;
      if (!known) this.#emit({ type: "join", reason: "resync", instance });
      else if (
        known.seq !== instance.seq || known.status !== instance.status
      ) {
        this.#emit({ type: "update", reason: "resync", instance });
      }
    }
    // The held whose time passed were decided by this snapshot.
    for (const [id, until] of this.#keptAfterLoss) {
      if (until <= now) this.#keptAfterLoss.delete(id);
    }
    this.#cursor = snapshot.cursor;
    this.#setState("live");
    this.#ready.resolve();
  }

  /**
   * When the loop must run next, whatever the backend says of its next
   * purge: then, at eviction protection's bound, and when an instance held
   * after data loss has had its time.
   */
  #wakeAt(): number {
    let at = Math.min(this.#nextPurge, this.#protection?.nextBound ?? Infinity);
    for (const until of this.#keptAfterLoss.values()) at = Math.min(at, until);
    return at;
  }

  /**
   * Has a fresh snapshot decide on held instances that had their time to
   * come back, and ends the protections whose bound passed: their held
   * instances expire.
   */
  #releaseDue(): void {
    const now = this.#clock.now();
    for (const change of this.#protection?.due(now) ?? []) {
      log.warn(
        "Eviction protection off for service {service}: its bound passed; {count} held instances expire now",
        { service: change.service, count: change.held.length },
      );
      for (const instance of change.held) {
        const known = this.view.get(instance.id);
        if (known?.seq === instance.seq) this.#remove(known, "expired");
      }
      this.#options.onProtection?.(change);
    }
    // A held instance that had its time is not dropped on the clock's
    // word: a fresh snapshot decides (the backend may have been paused, its
    // beats on their way), and drops it only if it is still missing.
    for (const until of this.#keptAfterLoss.values()) {
      if (until <= now) {
        this.#cursor = undefined;
        break;
      }
    }
  }

  #remove(instance: Instance, reason: ChangeReason): void {
    this.view.delete(instance.id);
    this.#count(instance.service, -1);
    this.#keptAfterLoss.delete(instance.id);
    this.version++;
    this.#emit({ type: "leave", reason, instance });
  }

  /**
   * Applies one change. Joins carry the whole instance; updates and leaves
   * are matched to the instance the view holds, by id and seq.
   */
  #apply(change: Change): void {
    const { instance } = change;
    const known = this.view.get(instance.id);
    if (change.type === "join") {
      this.#keptAfterLoss.delete(instance.id);
      this.#unprotect(instance);
      // It may fall due before the next purge the backend asked for.
      this.#nextPurge = Math.min(
        this.#nextPurge,
        this.#clock.now() + leaseOf(instance),
      );
      if (known && !supersedes(instance, known)) return; // seen already
      this.#put(instance, known);
      this.#emit({
        type: known ? "update" : "join",
        reason: change.reason,
        instance,
      });
    } else if (!known || known.seq !== instance.seq) {
      return; // of a registration this view never had, or one it replaced
    } else if (change.type === "update") {
      this.#unprotect(known);
      if (known.status === instance.status) return;
      const updated: Instance = instance.expiresAt > 0
        ? {
          ...known,
          status: instance.status,
          heartbeatAt: instance.expiresAt - leaseOf(known),
          expiresAt: instance.expiresAt,
        }
        : { ...known, status: instance.status };
      this.view.set(instance.id, updated);
      this.version++;
      this.#emit({ type: "update", reason: change.reason, instance: updated });
    } else if (change.reason !== "expired") {
      this.#remove(known, change.reason);
    } else {
      // Held, it shows when its lease ran out, where the backend says:
      // its last beat, not the time the view last heard of it.
      const lapsed = instance.expiresAt > known.expiresAt
        ? {
          ...known,
          heartbeatAt: instance.expiresAt - leaseOf(known),
          expiresAt: instance.expiresAt,
        }
        : known;
      if (!this.#hold(lapsed)) this.#remove(known, change.reason);
      else if (lapsed !== known) {
        this.view.set(lapsed.id, lapsed);
        this.version++;
      }
    }
  }

  /**
   * Asks the eviction safety valve about an expiry.
   *
   * @returns True when the instance is held: kept in the view, unreported.
   */
  #hold(instance: Instance): boolean {
    if (!this.#protection) return false;
    const decision = this.#protection.expire(
      instance,
      this.#perService.get(instance.service) ?? 0,
      leaseOf(instance),
      this.#clock.now(),
    );
    if (decision.change) {
      log.warn(
        "Eviction protection on for service {service}: more than {share} of it expired within one ttl; holding its expiries until they beat again or {until}",
        {
          service: instance.service,
          share: `${Math.round(this.#options.protection!.threshold * 100)}%`,
          until: new Date(decision.change.until!).toISOString(),
        },
      );
      this.#options.onProtection?.(decision.change);
    }
    return decision.action === "hold";
  }

  /** Puts an instance in the view, keeping the count per service. */
  #put(instance: Instance, known: Instance | undefined): void {
    this.view.set(instance.id, instance);
    this.version++;
    if (known?.service === instance.service) return;
    if (known) this.#count(known.service, -1);
    this.#count(instance.service, 1);
  }

  #count(service: string, by: number): void {
    const count = (this.#perService.get(service) ?? 0) + by;
    if (count > 0) this.#perService.set(service, count);
    else this.#perService.delete(service);
  }

  /** An instance back (or gone cleanly) is protected no more. */
  #unprotect(instance: Instance): void {
    const ended = this.#protection?.release(instance);
    if (!ended) return;
    log.info(
      "Eviction protection off for service {service}: its held instances beat again",
      { service: instance.service },
    );
    this.#options.onProtection?.(ended);
  }

  /** The instances whose expiry the eviction safety valve holds now. */
  protectedInstances(): Instance[] {
    return this.#protection?.held() ?? [];
  }

  /** Whether the eviction safety valve holds `instance`'s expiry. */
  isProtected(instance: Instance): boolean {
    return this.#protection?.isHeld(instance) ?? false;
  }

  #emit(event: WatchEvent): void {
    for (const subscriber of [...this.#subscribers]) {
      subscriber({ kind: "event", event });
    }
  }

  #setState(state: ViewState, error?: unknown): void {
    if (state === this.#state) return;
    if (state === "live" && this.#state === "stale") {
      log.info("The view of env {env} is live again", { env: this.#env });
    }
    this.#state = state;
    for (const subscriber of [...this.#subscribers]) {
      subscriber({ kind: "state", state, error });
    }
  }
}

/** An instance's ttl, from the times the backend recorded. */
function leaseOf(instance: Instance): number {
  const ttl = instance.expiresAt - instance.heartbeatAt;
  return ttl > 0 ? ttl : 15_000;
}

/** Sorted views per feed, kept until the feed's view changes. */
const sortedViews = new WeakMap<
  ChangeFeed,
  { version: number; lists: Map<string, Instance[]> }
>();

/**
 * The feed's instances that take work (healthy or warning) of one service
 * (or all), oldest first; with `"all"`, every one. Sorted once per change of the view, so a
 * cached listing costs a copy, not a sort.
 */
export function sortedView(
  feed: ChangeFeed,
  service?: string,
  which: "working" | "all" = "working",
): Instance[] {
  const all = which === "all";
  let cache = sortedViews.get(feed);
  if (!cache || cache.version !== feed.version) {
    cache = { version: feed.version, lists: new Map() };
    sortedViews.set(feed, cache);
  }
  const key = `${all ? "all" : "working"}/${service ?? ""}`;
  let list = cache.lists.get(key);
  if (!list) {
    list = [];
    for (const instance of feed.view.values()) {
      if (
        (service === undefined || instance.service === service) &&
        (all || takesWork(instance))
      ) {
        list.push(instance);
      }
    }
    list.sort((a, b) => a.seq - b.seq);
    cache.lists.set(key, list);
  }
  return list.slice();
}

/**
 * Yields `compute(feed)` once the feed is ready, and again after every
 * change of `service` (or of the feed's state) whenever it differs from the
 * last value yielded, until `signal` aborts or the feed closes.
 *
 * @param feed The registry's change feed.
 * @param service The service whose changes matter.
 * @param compute What to yield.
 * @param same Whether two values are the same.
 * @param signal Ends the stream.
 * @returns The values.
 */
export async function* observeView<T>(
  feed: ChangeFeed,
  service: string,
  compute: (feed: ChangeFeed) => T,
  same: (a: T, b: T) => boolean,
  signal: AbortSignal | undefined,
): AsyncGenerator<T, void, undefined> {
  const wakeup = new Wakeup();
  const unsubscribe = feed.subscribe((message) => {
    if (
      message.kind === "state" || message.event.instance.service === service
    ) wakeup.wake();
  });
  signal?.addEventListener("abort", wakeup.wake);
  const ended = () => signal?.aborted || feed.state === "closed";
  try {
    await Promise.race([feed.ready().catch(() => {}), wakeup.wait()]);
    if (ended()) return;
    let last = compute(feed);
    yield last;
    while (!ended()) {
      await wakeup.wait();
      if (ended()) break;
      const next = compute(feed);
      if (!same(last, next)) yield last = next;
    }
  } finally {
    unsubscribe();
    signal?.removeEventListener("abort", wakeup.wake);
  }
}

/** `Promise.withResolvers`, which Node 20 lacks. */
function deferred<T>(): {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (reason: unknown) => void;
} {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}
