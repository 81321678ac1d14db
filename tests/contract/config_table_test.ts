import assert from "node:assert/strict";
import {
  ConfigTable,
  describeValue,
  didYouMean,
  numeric,
  parseConfigDuration,
} from "../../contract/config_table.ts";
import { ConfigError } from "../../errors.ts";

Deno.test("a config duration's bare number is seconds, from a file or a variable", () => {
  assert.equal(parseConfigDuration(5, "ttl"), 5_000);
  assert.equal(parseConfigDuration("1.5", "ttl"), 1_500);
  assert.equal(parseConfigDuration("250ms", "ttl"), 250);
  assert.equal(parseConfigDuration("0", "linger", { allowZero: true }), 0);
  assert.throws(() => parseConfigDuration("0", "ttl"), /'ttl'/);
  assert.equal(numeric(" 42 "), 42);
  assert.equal(numeric("4x"), "4x");
});

Deno.test("a table names the file, the key and the variable a bad value came from", () => {
  const sources = new Map([["redis.prefix", "ROSTER_REDIS_PREFIX"]]);
  assert.throws(
    () => new ConfigTable({ urll: "x" }, "c.toml", "redis", ["url"], sources),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.field, "redis.urll");
      assert.match(
        error.message,
        /^'c\.toml': Unknown key 'cluster\.redis\.urll' \(did you mean 'url'\?\)/,
      );
      return true;
    },
  );
  const table = new ConfigTable(
    { prefix: 7, password: 9, every: "2", on: "true" },
    "c.toml",
    "redis",
    ["prefix", "password", "every", "on"],
    sources,
  );
  assert.throws(
    () => table.text("prefix"),
    /'c\.toml': Invalid 'redis\.prefix': expected a non-empty string, got 7 \(set by ROSTER_REDIS_PREFIX\)/,
  );
  // A secret is never echoed.
  assert.throws(
    () => table.text("password", { secret: true }),
    (error: unknown) => !String(error).includes("9"),
  );
  assert.equal(table.duration("every", 1_000), 2_000);
  assert.equal(table.flag("on", false), true);
  assert.equal(table.count("missing", 3), 3);
});

Deno.test("didYouMean finds the closest name, and describeValue shortens what it shows", () => {
  assert.equal(
    didYouMean("servce", ["service", "env"]),
    " (did you mean 'service'?)",
  );
  assert.equal(didYouMean("zzzzzz", ["service", "env"]), "");
  assert.equal(describeValue("x".repeat(100)).length, 66);
  assert.equal(describeValue({}), "a table");
});
