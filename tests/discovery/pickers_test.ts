import assert from "node:assert/strict";
import { type Instance, RandomPicker, RoundRobinPicker } from "../../mod.ts";

const at = (id: string, seq: number) =>
  ({ id, seq, status: "healthy" }) as Instance;

Deno.test("round robin visits every instance once per round", () => {
  const picker = new RoundRobinPicker();
  const set = [at("c", 3), at("a", 1), at("b", 2)];
  const picks = Array.from({ length: 6 }, () => picker.pick(set)?.id);
  assert.deepEqual(picks, ["a", "b", "c", "a", "b", "c"]);
});

Deno.test("round robin stays correct while the set shrinks and grows between picks", () => {
  const picker = new RoundRobinPicker();
  let set = [at("a", 1), at("b", 2), at("c", 3)];
  assert.equal(picker.pick(set)?.id, "a");
  set = [at("c", 3)]; // a and b left
  assert.equal(picker.pick(set)?.id, "c");
  assert.equal(picker.pick(set)?.id, "c");
  set = [at("c", 3), at("d", 4), at("e", 5)]; // d and e joined
  assert.deepEqual([1, 2, 3].map(() => picker.pick(set)?.id), ["d", "e", "c"]);
  assert.equal(picker.pick([]), undefined);
  assert.equal(picker.pick(set)?.id, "d");
});

Deno.test("random picks stay within the current set and reach all of it", () => {
  const picker = new RandomPicker();
  const set = [at("a", 1), at("b", 2), at("c", 3)];
  const seen = new Set<string>();
  for (let i = 0; i < 300; i++) seen.add(picker.pick(set)?.id ?? "");
  assert.deepEqual([...seen].sort(), ["a", "b", "c"]);
  assert.equal(picker.pick([at("z", 9)])?.id, "z");
  assert.equal(picker.pick([]), undefined);
});

Deno.test("pickers never pick an instance that takes no work, and random stays uniform over the rest", () => {
  const set = [
    { ...at("a", 1), status: "draining" },
    at("b", 2),
    { ...at("c", 3), status: "unhealthy" },
    { ...at("d", 4), status: "warning" },
    { ...at("e", 5), status: "maintenance" },
  ] as Instance[];
  const roundRobin = new RoundRobinPicker();
  assert.deepEqual(
    Array.from({ length: 4 }, () => roundRobin.pick(set)?.id),
    ["b", "d", "b", "d"],
  );
  const counts = new Map<string, number>();
  const random = new RandomPicker();
  for (let i = 0; i < 20_000; i++) {
    const id = random.pick(set)?.id ?? "none";
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  assert.deepEqual([...counts.keys()].sort(), ["b", "d"]);
  // Each about half: far outside this band is a biased picker.
  for (const count of counts.values()) {
    assert.ok(count > 9_000 && count < 11_000, `${[...counts]}`);
  }
  const none = set.filter((i) =>
    i.status !== "healthy" && i.status !== "warning"
  );
  assert.equal(roundRobin.pick(none), undefined);
  assert.equal(random.pick(none), undefined);
});
