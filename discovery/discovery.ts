/**
 * Discovery: the live instances of an env, listed from the backend or from
 * the registry's one change feed (its view), watched, waited for, selected,
 * picked and counted for quorums.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import type { Driver } from "../contract/driver.ts";
import { ConfigError, RegistryStateError } from "../errors.ts";
import { type Instance, takesWork, validateName } from "../instance.ts";
import type { ProtectionChange } from "./eviction_protection.ts";
import type { Picker } from "./pickers.ts";
import { quorumChanges, type QuorumState, quorumState } from "./quorum.ts";
import { selectInstances, type Selector } from "./select.ts";
import { ChangeFeed, sortedView, type ViewState } from "./view.ts";
import { waitForInstances, type WaitForOptions } from "./wait_for.ts";
import { type WatchEvent, watchFeed, type WatchOptions } from "./watch.ts";
import type { ResolvedOptions } from "../registry_options.ts";

/** A selector that may leave this process's own instance out. */
export type SelfSelector = Selector & { excludeSelf?: boolean };

/** What discovery is made of. */
export interface DiscoveryParts {
  /** The backend. */
  driver: Driver;
  /** The clock for retries and waits. */
  clock: Clock;
  /** The registry's validated options (env, cache, purge, protection). */
  options: ResolvedOptions;
  /** This process's instance id, if it registers. */
  id: string | undefined;
  /** Whether the registry is stopping, so no new feed may start. */
  stopping(): boolean;
  /** Told when the view goes `live` or `stale`. */
  viewChanged(state: ViewState, error: unknown): void;
  /** Told when the eviction safety valve holds or releases a service. */
  protectionChanged(change: ProtectionChange): void;
}

/** The discovery half of a registry; see the methods of the same names there. */
export class Discovery {
  readonly #parts: DiscoveryParts;
  #feed: ChangeFeed | undefined;

  /**
   * Creates discovery; its feed starts on first use.
   *
   * @param parts The backend, options and hooks it needs.
   */
  constructor(parts: DiscoveryParts) {
    this.#parts = parts;
  }

  /** The view's state; undefined until something watches or caches. */
  get viewState(): ViewState | undefined {
    return this.#feed?.state;
  }

  /**
   * The live instances that take work, oldest first.
   *
   * @param services Service names; none means all.
   * @returns The instances.
   */
  async instances(services: string[]): Promise<Instance[]> {
    if (this.#parts.options.cache && services.length <= 1) {
      for (const service of services) validateName("service", service);
      const feed = this.feed();
      await feed.ready();
      return sortedView(feed, services[0]);
    }
    return (await this.allInstances(services)).filter(takesWork);
  }

  /**
   * The live instances whatever their status, oldest first.
   *
   * @param services Service names; none means all.
   * @returns The instances.
   */
  async allInstances(services: string[]): Promise<Instance[]> {
    for (const service of services) validateName("service", service);
    const { driver, options } = this.#parts;
    if (!options.cache) {
      const listed = await driver.list({ env: options.env, services });
      return this.#withProtected(listed, services);
    }
    const feed = this.feed();
    await feed.ready();
    const wanted = new Set(services);
    return sortedView(feed, undefined, "all").filter((i) =>
      !wanted.size || wanted.has(i.service)
    );
  }

  /**
   * Adds to a listing the instances the view's eviction safety valve holds:
   * the backend expired them, but the view keeps them for a while.
   */
  #withProtected(listed: Instance[], services: string[]): Instance[] {
    const held = this.#feed?.protectedInstances() ?? [];
    if (held.length === 0) return listed;
    const ids = new Set(listed.map((i) => i.id));
    const added = held.filter((i) =>
      !ids.has(i.id) && (services.length === 0 || services.includes(i.service))
    );
    return added.length === 0
      ? listed
      : [...listed, ...added].sort((a, b) => a.seq - b.seq);
  }

  /**
   * Follows a service, or every service.
   *
   * @param service One service, or all when undefined.
   * @param options Whether to start with the current instances; a signal.
   * @returns The events.
   */
  watch(
    service: string | undefined,
    options: WatchOptions,
  ): AsyncGenerator<WatchEvent, void, undefined> {
    if (service !== undefined) validateName("service", service);
    return watchFeed(this.feed(), service, options);
  }

  /**
   * Waits for enough live instances.
   *
   * @param service The service.
   * @param options How many, how long, which.
   * @returns The instances once there are enough.
   */
  waitFor(service: string, options: WaitForOptions): Promise<Instance[]> {
    validateName("service", service);
    return waitForInstances(
      this.feed(),
      service,
      options,
      this.#parts.clock,
      () => new RegistryStateError("waitFor ended: the registry stopped"),
    );
  }

  /**
   * The live instances of a service that match.
   *
   * @param service The service.
   * @param selector What must hold.
   * @returns The matches, oldest first.
   */
  async select(service: string, selector: SelfSelector): Promise<Instance[]> {
    const exclude = [...selector.exclude ?? []];
    const id = this.#parts.id;
    if (selector.excludeSelf && id) exclude.push(id);
    return selectInstances(await this.instances([service]), {
      ...selector,
      exclude,
    });
  }

  /**
   * One live instance that matches, as the picker chooses.
   *
   * @param service The service.
   * @param picker The picker.
   * @param selector What must hold.
   * @returns The pick, or undefined.
   */
  async pick(
    service: string,
    picker: Picker,
    selector: SelfSelector,
  ): Promise<Instance | undefined> {
    return picker.pick(await this.select(service, selector));
  }

  /**
   * Whether a majority of a service's expected members is live.
   *
   * @param service The service.
   * @param expected Its expected member count.
   * @returns The quorum state.
   */
  async quorum(service: string, expected: number): Promise<QuorumState> {
    checkExpected(expected);
    const feed = this.feed();
    await feed.ready();
    return quorumState(service, expected, sortedView(feed, service).length);
  }

  /**
   * The quorum state, then each change of it.
   *
   * @param service The service.
   * @param expected Its expected member count.
   * @param signal Ends the stream.
   * @returns The states.
   */
  quorumChanges(
    service: string,
    expected: number,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<QuorumState, void, undefined> {
    validateName("service", service);
    checkExpected(expected);
    return quorumChanges(this.feed(), service, expected, signal);
  }

  /**
   * The registry's one change feed, started on first use.
   *
   * @returns The feed.
   * @throws {RegistryStateError} Once the registry is stopping.
   */
  feed(): ChangeFeed {
    if (this.#parts.stopping()) {
      throw new RegistryStateError(
        "Cannot watch: the registry is stopped; create a new Registry",
      );
    }
    if (this.#feed) return this.#feed;
    const { driver, options, clock } = this.#parts;
    const feed = this.#feed = new ChangeFeed(driver, options.env, clock, {
      purgeEvery: options.purgeInterval,
      pollWait: 5_000,
      protection: options.protection,
      onProtection: (change) => this.#parts.protectionChanged(change),
    });
    feed.subscribe((message) => {
      if (
        message.kind === "state" &&
        (message.state === "live" || message.state === "stale")
      ) {
        this.#parts.viewChanged(message.state, message.error);
      }
    });
    return feed;
  }

  /** Closes the feed, if one started. */
  async close(): Promise<void> {
    await this.#feed?.close();
  }
}

function checkExpected(expected: number): void {
  if (!Number.isInteger(expected) || expected < 1) {
    throw new ConfigError(
      `Invalid 'expected': ${expected} must be a whole number of at least 1`,
      { field: "expected" },
    );
  }
}
