/**
 * Weighted picking, smooth: Nginx's smooth weighted round robin.
 *
 * @module
 */

import { effectiveWeight, type Instance } from "../instance.ts";
import type { Picker } from "./pickers.ts";

/**
 * Picks instances in proportion to their `weight`, spreading each one's
 * turns evenly rather than in bursts: with weights 5, 1 and 1 it picks
 * `a a b a c a a`, as Nginx's smooth weighted round robin does. Each pick
 * adds every instance's weight to its running score, takes the highest
 * score (the oldest on a tie) and takes the total off it.
 *
 * It stays fair while instances join and leave: a newcomer starts at zero,
 * one that leaves is forgotten, and one that registers again (a new `seq`)
 * starts afresh. An instance with weight 0 is never picked.
 *
 * @example
 * ```ts
 * import { type Instance, WeightedPicker } from "@roster/roster";
 * import assert from "node:assert/strict";
 *
 * const at = (id: string, seq: number, weight: number) =>
 *   ({ id, seq, weight, status: "healthy" } as Instance);
 * const set = [at("a", 1, 5), at("b", 2, 1), at("c", 3, 1)];
 * const picker = new WeightedPicker();
 * const picks = Array.from({ length: 7 }, () => picker.pick(set)?.id).join(" ");
 * assert.equal(picks, "a a b a c a a");
 * ```
 */
export class WeightedPicker implements Picker {
  /** Running scores, by registration (`id#seq`). */
  readonly #score = new Map<string, number>();

  /**
   * Picks the instance whose turn it is.
   *
   * @param instances The live set now, in any order.
   * @returns One of them, or undefined when none has a weight above 0.
   */
  pick(instances: readonly Instance[]): Instance | undefined {
    let total = 0;
    let best: Instance | undefined;
    let bestKey = "";
    let bestScore = -Infinity;
    const present = new Set<string>();
    for (const instance of instances) {
      const weight = effectiveWeight(instance);
      if (!(weight > 0)) continue;
      const key = `${instance.id}#${instance.seq}`;
      present.add(key);
      const score = (this.#score.get(key) ?? 0) + weight;
      this.#score.set(key, score);
      total += weight;
      if (
        score > bestScore ||
        (score === bestScore && best !== undefined && instance.seq < best.seq)
      ) {
        [best, bestKey, bestScore] = [instance, key, score];
      }
    }
    if (this.#score.size > present.size) {
      for (const key of this.#score.keys()) {
        if (!present.has(key)) this.#score.delete(key);
      }
    }
    if (best) this.#score.set(bestKey, bestScore - total);
    return best;
  }
}
