import assert from "node:assert/strict";
import { type Instance, selectInstances } from "../../mod.ts";

const make = (id: string, version: string, meta: Record<string, string>) =>
  ({ id, version, meta }) as Instance;
const all = [
  make("a", "1.0.0", { zone: "eu", tier: "gold" }),
  make("b", "2.0.0", { zone: "eu" }),
  make("c", "2.1.0", { zone: "us", tier: "gold" }),
];
const ids = (list: Instance[]) => list.map((i) => i.id);

Deno.test("select matches every meta key exactly", () => {
  assert.deepEqual(ids(selectInstances(all, { meta: { zone: "eu" } })), [
    "a",
    "b",
  ]);
  assert.deepEqual(
    ids(selectInstances(all, { meta: { zone: "eu", tier: "gold" } })),
    ["a"],
  );
  assert.deepEqual(ids(selectInstances(all, { meta: { zone: "EU" } })), []);
});

Deno.test("select by exact version or a predicate, and by excluded ids", () => {
  assert.deepEqual(ids(selectInstances(all, { version: "2.0.0" })), ["b"]);
  assert.deepEqual(
    ids(selectInstances(all, { version: (v) => v.startsWith("2.") })),
    ["b", "c"],
  );
  assert.deepEqual(ids(selectInstances(all, { exclude: ["a", "c"] })), ["b"]);
  assert.deepEqual(ids(selectInstances(all, {})), ["a", "b", "c"]);
});
