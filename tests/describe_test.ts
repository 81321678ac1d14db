import assert from "node:assert/strict";
import { describe } from "../_describe.ts";

Deno.test("describe quotes a string, shortens a long one, and names what is not a value", () => {
  assert.equal(describe("10s"), "'10s'");
  const long = describe("x".repeat(100));
  assert.equal(long, `'${"x".repeat(61)}...'`);
  assert.equal(describe(null), "null");
  assert.equal(describe(undefined), "nothing");
  assert.equal(describe([1]), "an array");
  assert.equal(describe(new Date(0)), "a date");
  assert.equal(describe({ a: 1 }), "a table");
  assert.equal(describe(5), "5");
  assert.equal(describe(false), "false");
  assert.equal(describe(() => {}), "a function");
});
