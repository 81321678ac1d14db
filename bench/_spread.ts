/**
 * How the bench compares on a shared, noisy machine: each comparison is a
 * ratio taken inside one repetition, the sides run interleaved with the
 * order turned every repetition (A B, B A, A B…), so that drift and
 * neighbours land on both; and every figure is reported as the min,
 * median and max of its repetitions.
 */

/** The spread of a figure over repetitions. */
export interface Spread {
  min: number;
  median: number;
  max: number;
  /** Every repetition's value, in the order run. */
  runs: number[];
}

/**
 * The spread of `values`.
 *
 * @param values One value per repetition.
 * @returns Their min, median and max.
 */
export function spread(values: number[]): Spread {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.floor(q * (sorted.length - 1))] ?? NaN;
  const middle = sorted.length % 2 === 1 || sorted.length === 0
    ? at(0.5)
    : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  return {
    min: sorted[0] ?? NaN,
    median: middle,
    max: sorted.at(-1) ?? NaN,
    runs: values,
  };
}

/**
 * Runs each side once per repetition, the order turned each time, and
 * hands each repetition's results to `combine` (a ratio, say).
 *
 * @param repetitions How many; at least 2, so neither side always goes first.
 * @param sides What each side measures, by name.
 * @returns Each side's values, in repetition order.
 */
export async function interleave<K extends string>(
  repetitions: number,
  sides: Record<K, () => Promise<number>>,
): Promise<Record<K, number[]>> {
  if (repetitions < 2) {
    throw new Error(
      `'repetitions' (${repetitions}) must be at least 2: the order turns each time`,
    );
  }
  const names = Object.keys(sides) as K[];
  const values = Object.fromEntries(
    names.map((n) => [n, [] as number[]]),
  ) as Record<K, number[]>;
  for (let rep = 0; rep < repetitions; rep++) {
    // Rotate, so each side runs first as often as the others.
    const order = names.map((_, i) => names[(i + rep) % names.length]!);
    for (const name of order) values[name][rep] = await sides[name]();
  }
  return values;
}

/**
 * Per-repetition ratios of two sides' values.
 *
 * @param ours Our values, one per repetition.
 * @param theirs Theirs, in the same order.
 * @returns The spread of `ours[i] / theirs[i]`.
 */
export function ratios(ours: number[], theirs: number[]): Spread {
  return spread(ours.map((value, i) => value / theirs[i]!));
}

/**
 * `min / median / max` with `digits` decimals and a unit.
 *
 * @param s The spread.
 * @param digits Decimals.
 * @param unit Appended to each number, such as `×` or ` µs`.
 * @returns The text.
 */
export function formatSpread(s: Spread, digits = 2, unit = ""): string {
  const f = (n: number) =>
    Number.isFinite(n)
      ? n.toLocaleString("en", {
        maximumFractionDigits: digits,
        minimumFractionDigits: digits,
      }) + unit
      : "-";
  return `${f(s.min)} / ${f(s.median)} / ${f(s.max)}`;
}
