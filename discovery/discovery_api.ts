/**
 * What a `Registry` offers to find the live instances of an env:
 * listings, the services, watches, waits, selections, picks and quorums.
 * Discovery (`discovery.ts`) does the work; the registry delegates to it.
 *
 * @module
 */

import type { Instance } from "../instance.ts";
import type { StreamOptions } from "../registry_options.ts";
import type { Picker } from "./pickers.ts";
import type { QuorumState } from "./quorum.ts";
import type { Selector } from "./select.ts";
import type { ViewState } from "./view.ts";
import type { WaitForOptions } from "./wait_for.ts";
import type { WatchEvent, WatchOptions } from "./watch.ts";

/** A registry's methods to find live instances. */
export interface DiscoveryApi {
  /**
   * Lists the live instances of the named services, or of every service in
   * the env when none is named, oldest registration first.
   *
   * @param services Service names; none means all.
   * @returns The live instances.
   * @throws {ConfigError} When a service name is invalid.
   *
   * @example
   * ```ts
   * import { Registry } from "@roster/roster";
   * import assert from "node:assert/strict";
   *
   * await using discovery = new Registry();
   * assert.ok(Array.isArray(await discovery.instances("api", "worker")));
   * ```
   */
  instances(...services: string[]): Promise<Instance[]>;

  /**
   * Lists the live instances, unhealthy ones included, oldest first.
   *
   * @param services Service names; none means all.
   * @returns The live instances, healthy or not.
   *
   * @example
   * ```ts
   * import { Registry } from "@roster/roster";
   * import assert from "node:assert/strict";
   *
   * await using registry = new Registry({ service: "api", env: "all-doc", status: "unhealthy" });
   * await registry.start();
   * assert.equal((await registry.instances("api")).length, 0);
   * assert.equal((await registry.allInstances("api")).length, 1);
   * ```
   */
  allInstances(...services: string[]): Promise<Instance[]>;

  /**
   * Lists the names of services with at least one live instance in the env.
   *
   * @returns Sorted service names.
   *
   * @example
   * ```ts
   * import { Registry } from "@roster/roster";
   * import assert from "node:assert/strict";
   *
   * await using registry = new Registry({ service: "billing", env: "docs" });
   * await registry.start();
   * assert.deepEqual(await registry.services(), ["billing"]);
   * ```
   */
  services(): Promise<string[]>;

  /**
   * Whether the local view follows the backend: `live`, `stale` (the backend
   * cannot be reached; the last known instances are kept), or `connecting`.
   * Undefined until something watches (or `cache` is on and something lists).
   */
  readonly viewState: ViewState | undefined;

  /**
   * Follows the live instances of a service, or of every service in the env:
   * `join`, `update` (registered again with a new `seq`) and `leave` events,
   * with the reason (a `leave` tells `deregistered` from `expired`). No
   * change is reported twice, and none is lost: after a gap in the backend's
   * change log the watcher reports what it missed, found by comparison.
   *
   * @param service One service, or every service when undefined.
   * @param options `current` to start with the live instances; a signal to end.
   * @returns An async iterable of events; leaving the loop ends the watch.
   *
   * @example
   * ```ts
   * import { Registry } from "@roster/roster";
   * import assert from "node:assert/strict";
   *
   * await using registry = new Registry({ service: "api", env: "watch-doc" });
   * await registry.start();
   * for await (const event of registry.watch("api", { current: true })) {
   *   assert.equal(event.type, "join");
   *   break;
   * }
   * ```
   */
  watch(
    service?: string,
    options?: WatchOptions,
  ): AsyncGenerator<WatchEvent, void, undefined>;

  /**
   * Waits until at least `min` instances of a service are live.
   *
   * @param service The service.
   * @param options How many, how long, which, and a signal to stop waiting.
   * @returns The live (matching) instances, oldest first, once there are enough.
   * @throws {WaitForTimeoutError} When the timeout runs out first.
   *
   * @example
   * ```ts
   * import { Registry, WaitForTimeoutError } from "@roster/roster";
   * import assert from "node:assert/strict";
   *
   * await using registry = new Registry({ env: "wait-doc" });
   * await assert.rejects(
   *   registry.waitFor("db", { min: 2, timeout: "50ms" }),
   *   WaitForTimeoutError,
   * );
   * ```
   */
  waitFor(
    service: string,
    options?: WaitForOptions,
  ): Promise<Instance[]>;

  /**
   * Selects live instances of a service by meta, version, and id.
   *
   * @param service The service.
   * @param selector What must hold; `excludeSelf` leaves this instance out.
   * @returns The matching live instances, oldest first.
   *
   * @example
   * ```ts
   * import { Registry } from "@roster/roster";
   * import assert from "node:assert/strict";
   *
   * await using registry = new Registry({ service: "api", env: "select-doc", meta: { zone: "eu" } });
   * await registry.start();
   * assert.equal((await registry.select("api", { meta: { zone: "eu" } })).length, 1);
   * assert.equal((await registry.select("api", { excludeSelf: true })).length, 0);
   * ```
   */
  select(
    service: string,
    selector?: Selector & { excludeSelf?: boolean },
  ): Promise<Instance[]>;

  /**
   * Picks one live instance of a service with a picker, among those that
   * match the selector.
   *
   * @param service The service.
   * @param picker A `RoundRobinPicker`, a `RandomPicker`, or your own.
   * @param selector Which instances qualify.
   * @returns The picked instance, or undefined when none qualifies.
   *
   * @example
   * ```ts
   * import { Registry, RoundRobinPicker } from "@roster/roster";
   * import assert from "node:assert/strict";
   *
   * await using registry = new Registry({ service: "api", env: "pick-doc", cache: true });
   * const me = await registry.start();
   * const picker = new RoundRobinPicker();
   * assert.equal((await registry.pick("api", picker))?.id, me.id);
   * ```
   */
  pick(
    service: string,
    picker: Picker,
    selector?: Selector & { excludeSelf?: boolean },
  ): Promise<Instance | undefined>;

  /**
   * Whether a majority of a service's expected members is live.
   *
   * @param service The service.
   * @param expected How many members it should have.
   * @returns The quorum state.
   *
   * @example
   * ```ts
   * import { Registry } from "@roster/roster";
   * import assert from "node:assert/strict";
   *
   * await using registry = new Registry({ service: "db", env: "quorum-doc" });
   * await registry.start();
   * assert.equal((await registry.quorum("db", 3)).reached, false);
   * assert.equal((await registry.quorum("db", 1)).reached, true);
   * ```
   */
  quorum(service: string, expected: number): Promise<QuorumState>;

  /**
   * Streams the quorum state of a service: first the current one, then each
   * change of the live count.
   *
   * @param service The service.
   * @param expected How many members it should have.
   * @param options A signal that ends the stream.
   * @returns An async iterable of quorum states.
   */
  quorumChanges(
    service: string,
    expected: number,
    options?: StreamOptions,
  ): AsyncGenerator<QuorumState, void, undefined>;
}
