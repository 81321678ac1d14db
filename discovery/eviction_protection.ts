/**
 * The eviction safety valve: when an unusual share of a service expires
 * within one ttl, further expiries of that service are held rather than
 * reported, since a mass expiry says more about the link between those
 * instances and the backend than about the instances. Protection ends by
 * itself, when the held instances beat again or after a bound.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import type { Instance } from "../instance.ts";

/** When expiries are held, and for how long at most. */
export interface EvictionProtectionOptions {
  /**
   * The share of a service that must expire within one ttl for protection
   * to begin: more than this; 0.5 (half) by default.
   */
  threshold?: number;
  /** The fewest instances a service must have had for protection; 3 by default. */
  minInstances?: number;
  /**
   * How long protection lasts at most, in ttls of the held instances; 3 by
   * default. Then the held instances expire, and are reported as such.
   */
  maxTtls?: number;
}

/** A service's protection beginning or ending. */
export interface ProtectionChange {
  /** The service. */
  service: string;
  /** Whether its expiries are now held. */
  on: boolean;
  /** The instances held now; when it ends, those released as expired. */
  held: Instance[];
  /** When it ends at the latest, by this process's clock (ms); while on. */
  until?: number;
  /**
   * Why it ended: `beats resumed` (every held instance beat again or left
   * cleanly) or `bound passed` (they expired).
   */
  reason?: "beats resumed" | "bound passed";
}

interface Protected {
  until: number;
  held: Map<string, Instance>;
}

/**
 * Checks protection options.
 *
 * @param value The options, `false` to turn protection off, or undefined.
 * @returns The options with defaults, or undefined when off.
 * @throws {ConfigError} Naming the option at fault.
 *
 * @example
 * ```ts
 * import { resolveProtectionOptions } from "@roster/roster";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(resolveProtectionOptions({ maxTtls: 5 }), {
 *   threshold: 0.5,
 *   minInstances: 3,
 *   maxTtls: 5,
 * });
 * assert.equal(resolveProtectionOptions(false), undefined);
 * ```
 */
export function resolveProtectionOptions(
  value: EvictionProtectionOptions | false | undefined,
): Required<EvictionProtectionOptions> | undefined {
  if (value === false) return undefined;
  const options = value ?? {};
  const threshold = options.threshold ?? 0.5;
  if (typeof threshold !== "number" || !(threshold > 0 && threshold < 1)) {
    throw new ConfigError(
      `Invalid 'protection.threshold': ${
        String(threshold)
      } must be a share between 0 and 1, such as 0.5 (more than half)`,
      { field: "protection.threshold" },
    );
  }
  const minInstances = options.minInstances ?? 3;
  if (!Number.isInteger(minInstances) || minInstances < 2) {
    throw new ConfigError(
      `Invalid 'protection.minInstances': ${
        String(minInstances)
      } must be a whole number of at least 2`,
      { field: "protection.minInstances" },
    );
  }
  const maxTtls = options.maxTtls ?? 3;
  if (typeof maxTtls !== "number" || !(maxTtls >= 1 && maxTtls <= 100)) {
    throw new ConfigError(
      `Invalid 'protection.maxTtls': ${
        String(maxTtls)
      } must be a number of ttls from 1 to 100, such as 3`,
      { field: "protection.maxTtls" },
    );
  }
  return { threshold, minInstances, maxTtls };
}

/**
 * Decides, expiry by expiry, whether an expiry is reported or held, and
 * when held instances are released. It keeps no clock of its own: the view
 * that owns it passes the time, so an observer that was asleep past a bound
 * releases at once when it wakes.
 */
export class EvictionProtection {
  readonly #options: Required<EvictionProtectionOptions>;
  /** Expiries reported lately, by service: when each was. */
  readonly #recent = new Map<string, number[]>();
  readonly #protected = new Map<string, Protected>();

  /**
   * Creates the valve.
   *
   * @param options Its threshold, minimum and bound, resolved.
   */
  constructor(options: Required<EvictionProtectionOptions>) {
    this.#options = options;
  }

  /**
   * Decides on one expiry.
   *
   * @param instance The instance that expired.
   * @param live How many instances of its service the view holds, it included.
   * @param ttl Its ttl, in ms: the window, and the unit of the bound.
   * @param now The time, in ms.
   * @returns `report` to report the expiry, `hold` to keep the instance, and
   *   a change when protection begins.
   */
  expire(
    instance: Instance,
    live: number,
    ttl: number,
    now: number,
  ): { action: "report" | "hold"; change?: ProtectionChange } {
    const { service } = instance;
    const current = this.#protected.get(service);
    if (current) {
      current.held.set(instance.id, instance);
      return { action: "hold" };
    }
    const recent = (this.#recent.get(service) ?? []).filter((at) =>
      at > now - ttl
    );
    // The service's size when the window began: the live, and those that
    // expired within it.
    const size = live + recent.length;
    const expiring = recent.length + 1;
    if (
      size >= this.#options.minInstances &&
      expiring > this.#options.threshold * size
    ) {
      const until = now + this.#options.maxTtls * ttl;
      this.#protected.set(service, {
        until,
        held: new Map([[instance.id, instance]]),
      });
      this.#recent.delete(service);
      return {
        action: "hold",
        change: { service, on: true, held: [instance], until },
      };
    }
    recent.push(now);
    this.#recent.set(service, recent);
    return { action: "report" };
  }

  /**
   * Notes that an instance came back (it beat or registered again) or left
   * cleanly: it is held no more.
   *
   * @param instance The instance, by service and id.
   * @returns The end of its service's protection, when it was the last held.
   */
  release(
    instance: Pick<Instance, "service" | "id">,
  ): ProtectionChange | undefined {
    const current = this.#protected.get(instance.service);
    if (!current?.held.delete(instance.id) || current.held.size > 0) {
      return undefined;
    }
    this.#protected.delete(instance.service);
    return {
      service: instance.service,
      on: false,
      held: [],
      reason: "beats resumed",
    };
  }

  /**
   * Ends every protection whose bound has passed.
   *
   * @param now The time, in ms.
   * @returns The ends, each with the instances that now expire.
   */
  due(now: number): ProtectionChange[] {
    const ended: ProtectionChange[] = [];
    for (const [service, current] of this.#protected) {
      if (current.until > now) continue;
      this.#protected.delete(service);
      ended.push({
        service,
        on: false,
        held: [...current.held.values()],
        reason: "bound passed",
      });
    }
    return ended;
  }

  /**
   * Whether an instance is held.
   *
   * @param instance The instance, by service and id.
   * @returns True while its expiry is held.
   */
  isHeld(instance: Pick<Instance, "service" | "id">): boolean {
    return this.#protected.get(instance.service)?.held.has(instance.id) ??
      false;
  }

  /** The earliest bound of any protection, or undefined when none is on. */
  get nextBound(): number | undefined {
    let next: number | undefined;
    for (const { until } of this.#protected.values()) {
      if (next === undefined || until < next) next = until;
    }
    return next;
  }

  /**
   * The instances held now.
   *
   * @returns The held instances, of every service.
   */
  held(): Instance[] {
    return [...this.#protected.values()].flatMap((p) => [...p.held.values()]);
  }
}
