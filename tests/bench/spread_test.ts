import assert from "node:assert/strict";
import {
  formatSpread,
  interleave,
  ratios,
  spread,
} from "../../bench/_spread.ts";

Deno.test("spread: min, median (the middle two averaged) and max; runs kept in order", () => {
  assert.deepEqual(spread([3, 1, 2]), {
    min: 1,
    median: 2,
    max: 3,
    runs: [3, 1, 2],
  });
  assert.equal(spread([4, 1, 3, 2]).median, 2.5);
  // A failed repetition (NaN) is left out of the figures, not of the runs.
  assert.deepEqual(spread([NaN, 5]), {
    min: 5,
    median: 5,
    max: 5,
    runs: [NaN, 5],
  });
});

Deno.test("interleave turns the order every repetition, so no side always goes first", async () => {
  const order: string[] = [];
  let n = 0;
  const values = await interleave(4, {
    a: () => (order.push("a"), Promise.resolve(++n)),
    b: () => (order.push("b"), Promise.resolve(++n)),
  });
  assert.deepEqual(order, ["a", "b", "b", "a", "a", "b", "b", "a"]);
  assert.deepEqual(values, { a: [1, 4, 5, 8], b: [2, 3, 6, 7] });
  await assert.rejects(
    interleave(1, { a: () => Promise.resolve(1) }),
    /'repetitions' \(1\) must be at least 2/,
  );
});

Deno.test("ratios pair each repetition's values; formatSpread shows min / median / max", () => {
  const r = ratios([1, 2, 3], [2, 2, 2]);
  assert.deepEqual([r.min, r.median, r.max], [0.5, 1, 1.5]);
  assert.equal(formatSpread(r, 2, "×"), "0.50× / 1.00× / 1.50×");
  assert.equal(formatSpread(spread([])), "- / - / -");
});
