import assert from "node:assert/strict";
import { type Instance, WeightedPicker } from "../../mod.ts";

function at(id: string, seq: number, weight: number): Instance {
  return {
    id,
    seq,
    weight,
    status: "healthy",
    meta: {},
  } as unknown as Instance;
}

function counts(picks: (Instance | undefined)[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const pick of picks) out[pick!.id] = (out[pick!.id] ?? 0) + 1;
  return out;
}

Deno.test("weights share the picks exactly, and spread them smoothly as Nginx does", () => {
  const picker = new WeightedPicker();
  const set = [at("a", 1, 5), at("b", 2, 1), at("c", 3, 1)];
  const picks = Array.from({ length: 700 }, () => picker.pick(set));
  assert.deepEqual(counts(picks), { a: 500, b: 100, c: 100 });
  // Nginx's order, repeating: every 7 picks in a row hold 5 a, 1 b, 1 c.
  assert.equal(picks.slice(0, 7).map((p) => p?.id).join(" "), "a a b a c a a");
  for (let start = 0; start + 7 <= picks.length; start++) {
    assert.deepEqual(counts(picks.slice(start, start + 7)), {
      a: 5,
      b: 1,
      c: 1,
    });
  }
});

Deno.test("weight 0 is never picked; none above 0 picks nothing", () => {
  const picker = new WeightedPicker();
  const set = [at("a", 1, 0), at("b", 2, 100)];
  for (let i = 0; i < 10; i++) assert.equal(picker.pick(set)?.id, "b");
  assert.equal(picker.pick([at("a", 1, 0)]), undefined);
  assert.equal(picker.pick([]), undefined);
});

Deno.test("fair while instances join and leave: each cycle keeps its shares", () => {
  const picker = new WeightedPicker();
  const a = at("a", 1, 2);
  const b = at("b", 2, 1);
  const c = at("c", 3, 1);
  const first = counts(Array.from({ length: 40 }, () => picker.pick([a, b])));
  assert.deepEqual(first, { a: 27, b: 13 });
  // c joins: within each full cycle of 4 picks, 2 : 1 : 1.
  const joined = Array.from({ length: 400 }, () => picker.pick([a, b, c]));
  assert.deepEqual(counts(joined), { a: 200, b: 100, c: 100 });
  // b leaves, then comes back registered again (a new seq): no starvation,
  // no burst for the newcomer.
  const left = counts(Array.from({ length: 30 }, () => picker.pick([a, c])));
  assert.deepEqual(left, { a: 20, c: 10 });
  const back = at("b", 9, 1);
  const again = Array.from({ length: 8 }, () => picker.pick([a, c, back]));
  assert.deepEqual(counts(again), { a: 4, c: 2, b: 2 });
});
