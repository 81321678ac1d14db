import assert from "node:assert/strict";
import { formatDuration, parseDuration } from "../duration.ts";
import { ConfigError } from "../errors.ts";

Deno.test("parseDuration reads strings in ms, s, m and h, and combinations", () => {
  const cases: [string, number][] = [
    ["250ms", 250],
    ["5s", 5000],
    ["1.5s", 1500],
    ["1m30s", 90_000],
    ["2h", 7_200_000],
    ["1h2m3s4ms", 3_723_004],
    [" 10s ", 10_000],
  ];
  for (const [text, ms] of cases) {
    assert.equal(parseDuration(text, "ttl"), ms, text);
  }
});

Deno.test("parseDuration takes numbers as ms, or seconds when told", () => {
  assert.equal(parseDuration(250, "ttl"), 250);
  assert.equal(parseDuration(1.5, "ttl", "s"), 1500);
});

Deno.test("parseDuration rejects what is not a positive, bounded duration", () => {
  for (
    const bad of [
      "",
      "5",
      "5 s",
      "s",
      "-5s",
      "5d",
      "1e3s",
      "0s",
      "25d",
      0,
      -1,
      NaN,
      Infinity,
      true,
      null,
      [],
      {},
    ]
  ) {
    assert.throws(() => parseDuration(bad, "ttl"), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.field, "ttl");
      assert.match(error.message, /^Invalid 'ttl': /);
      return true;
    }, String(bad));
  }
});

Deno.test("formatDuration writes what parseDuration reads", () => {
  for (const ms of [1, 250, 1000, 1500, 60_000, 90_000, 3_723_004]) {
    assert.equal(parseDuration(formatDuration(ms), "x"), ms);
  }
  assert.equal(formatDuration(90_000), "1m30s");
});
