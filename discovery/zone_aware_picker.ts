/**
 * Zone-affine picking with a fallback.
 *
 * @module
 */

import { type Instance, takesWork } from "../instance.ts";
import type { Picker } from "./pickers.ts";
import { WeightedPicker } from "./weighted_picker.ts";

/** Options for a {@linkcode ZoneAwarePicker}. */
export interface ZoneAwarePickerOptions {
  /** The caller's zone, compared with each instance's meta `zone`. */
  zone: string;
  /**
   * The fewest healthy instances the zone must have to be used alone.
   * Default 1.
   */
  minInstances?: number;
  /**
   * The smallest share of the zone's instances that must be healthy for it
   * to be used alone, from 0 to 1. Default 0.
   */
  minHealthyFraction?: number;
  /** The meta key that names an instance's zone. Default `zone`. */
  zoneKey?: string;
  /**
   * Makes the picker used within a set; one for the zone, one for the
   * fallback, so each stays fair. Default: a {@linkcode WeightedPicker}.
   */
  newPicker?: () => Picker;
}

/**
 * Prefers instances in the caller's zone (meta `zone`), and falls back to
 * every instance that takes work (healthy or warning) when the zone has too few: fewer than
 * `minInstances`, or less than `minHealthyFraction` of its instances. Give it
 * all instances (`registry.allInstances()`) for the fraction to count the
 * unhealthy; it only ever picks instances that take work.
 *
 * @example
 * ```ts
 * import { type Instance, ZoneAwarePicker } from "@roster/roster";
 * import assert from "node:assert/strict";
 *
 * const at = (id: string, seq: number, zone: string): Instance =>
 *   ({ id, seq, weight: 100, status: "healthy", meta: { zone } }) as unknown as Instance;
 * const picker = new ZoneAwarePicker({ zone: "eu", minInstances: 2 });
 * const set = [at("eu-1", 1, "eu"), at("eu-2", 2, "eu"), at("us-1", 3, "us")];
 * assert.equal(picker.pick(set)?.meta.zone, "eu");
 * // One eu instance left is too few: every zone takes part.
 * const fallback = [set[0]!, set[2]!];
 * assert.deepEqual(
 *   [1, 2].map(() => picker.pick(fallback)?.id).sort(),
 *   ["eu-1", "us-1"],
 * );
 * ```
 */
export class ZoneAwarePicker implements Picker {
  readonly #zone: string;
  readonly #minInstances: number;
  readonly #minFraction: number;
  readonly #zoneKey: string;
  readonly #local: Picker;
  readonly #everywhere: Picker;

  /**
   * Creates the picker.
   *
   * @param options The caller's zone and when to fall back.
   */
  constructor(options: ZoneAwarePickerOptions) {
    this.#zone = options.zone;
    this.#minInstances = options.minInstances ?? 1;
    this.#minFraction = options.minHealthyFraction ?? 0;
    this.#zoneKey = options.zoneKey ?? "zone";
    const newPicker = options.newPicker ?? (() => new WeightedPicker());
    this.#local = newPicker();
    this.#everywhere = newPicker();
  }

  /**
   * Picks from the caller's zone when it has enough healthy instances, from
   * every zone otherwise.
   *
   * @param instances The live set now.
   * @returns A healthy instance, or undefined when there is none.
   */
  pick(instances: readonly Instance[]): Instance | undefined {
    const healthy = instances.filter(takesWork);
    const inZone = instances.filter((i) =>
      i.meta?.[this.#zoneKey] === this.#zone
    );
    const healthyInZone = inZone.filter(takesWork);
    const zoneHolds = healthyInZone.length >= this.#minInstances &&
      healthyInZone.length >= this.#minFraction * inZone.length &&
      healthyInZone.length > 0;
    return zoneHolds
      ? this.#local.pick(healthyInZone)
      : this.#everywhere.pick(healthy);
  }
}
