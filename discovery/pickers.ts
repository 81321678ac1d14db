/**
 * Pickers: choose one instance from a live set that may change between
 * picks.
 *
 * @module
 */

import { type Instance, takesWork } from "../instance.ts";

/**
 * Chooses one instance from a set. The pickers here never choose an
 * instance that takes no work (`unhealthy`, `draining`, `maintenance`),
 * whatever list they are given.
 */
export interface Picker {
  /**
   * Picks one instance.
   *
   * @param instances The live set now.
   * @returns One of them, or undefined when none qualifies.
   */
  pick(instances: readonly Instance[]): Instance | undefined;
}

/**
 * Takes instances in turn, in `seq` order. It remembers the last one it
 * picked, not a position, so when the set shrinks or grows between picks it
 * still moves on to the next instance after the last one, skips none that
 * stayed, and never repeats one before the others have had a turn.
 *
 * @example
 * ```ts
 * import { RoundRobinPicker, type Instance } from "@roster/roster";
 * import assert from "node:assert/strict";
 *
 * const at = (id: string, seq: number) =>
 *   ({ id, seq, status: "healthy" } as Instance);
 * const picker = new RoundRobinPicker();
 * const set = [at("a", 1), at("b", 2), at("c", 3)];
 * assert.equal(picker.pick(set)?.id, "a");
 * assert.equal(picker.pick(set)?.id, "b");
 * // "b" leaves and "d" joins: the turn passes to "c", then "d", then "a".
 * const changed = [at("a", 1), at("c", 3), at("d", 4)];
 * assert.deepEqual([1, 2, 3].map(() => picker.pick(changed)?.id), ["c", "d", "a"]);
 * ```
 */
export class RoundRobinPicker implements Picker {
  #lastSeq = -Infinity;

  /**
   * Picks the instance after the last one picked.
   *
   * @param instances The live set now, in any order.
   * @returns The next instance, or undefined when the set is empty.
   */
  pick(instances: readonly Instance[]): Instance | undefined {
    let next: Instance | undefined;
    let first: Instance | undefined;
    for (const instance of instances) {
      if (!takesWork(instance)) continue;
      if (!first || instance.seq < first.seq) first = instance;
      if (instance.seq > this.#lastSeq && (!next || instance.seq < next.seq)) {
        next = instance;
      }
    }
    const picked = next ?? first;
    if (picked) this.#lastSeq = picked.seq;
    return picked;
  }
}

/**
 * Picks uniformly at random.
 *
 * @example
 * ```ts
 * import { RandomPicker, type Instance } from "@roster/roster";
 * import assert from "node:assert/strict";
 *
 * const picker = new RandomPicker(() => 0.99);
 * const at = (id: string) => ({ id, status: "healthy" } as Instance);
 * assert.equal(picker.pick([at("a"), at("b")])?.id, "b");
 * assert.equal(picker.pick([]), undefined);
 * ```
 */
export class RandomPicker implements Picker {
  readonly #random: () => number;

  /**
   * Creates a random picker.
   *
   * @param random A source of numbers in [0, 1); `Math.random` by default.
   */
  constructor(random: () => number = Math.random) {
    this.#random = random;
  }

  /**
   * Picks one instance at random.
   *
   * @param instances The live set now.
   * @returns One of them, or undefined when the set is empty.
   */
  pick(instances: readonly Instance[]): Instance | undefined {
    const first = instances[Math.floor(this.#random() * instances.length)];
    if (!first || takesWork(first)) return first;
    // Drawn again among those that take work, each is still as likely:
    // 1/n + (k/n) * 1/(n - k) = 1/(n - k) with k that take none.
    const working = instances.filter(takesWork);
    return working[Math.floor(this.#random() * working.length)];
  }
}
