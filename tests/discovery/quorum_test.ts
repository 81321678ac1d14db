import assert from "node:assert/strict";
import { quorumState } from "../../mod.ts";

Deno.test("quorum needs a strict majority of the expected members", () => {
  const cases: [number, number, number, boolean][] = [
    [1, 0, 1, false],
    [1, 1, 1, true],
    [2, 1, 2, false],
    [3, 2, 2, true],
    [4, 2, 3, false],
    [5, 3, 3, true],
    [5, 6, 3, true],
  ];
  for (const [expected, live, needed, reached] of cases) {
    assert.deepEqual(quorumState("db", expected, live), {
      service: "db",
      expected,
      live,
      needed,
      reached,
    });
  }
});
