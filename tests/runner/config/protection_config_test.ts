import assert from "node:assert/strict";
import { ConfigError } from "../../../errors.ts";
import { parseProtectionConfig } from "../../../runner/config/protection_config.ts";

Deno.test("protection config: on by default with the library's defaults; off when disabled; numbers from the environment read", () => {
  assert.deepEqual(parseProtectionConfig({}, "c.toml"), {});
  assert.equal(parseProtectionConfig({ enabled: false }, "c.toml"), false);
  assert.deepEqual(
    parseProtectionConfig(
      { threshold: "0.5", min_instances: 4, max_ttls: 3 },
      "c.toml",
    ),
    { threshold: 0.5, minInstances: 4, maxTtls: 3 },
  );
});

Deno.test("protection config: a bad value is refused under its TOML key, not the library's option name", () => {
  for (
    const [table, key] of [
      [{ threshold: 2 }, "protection.threshold"],
      [{ min_instances: -1 }, "protection.min_instances"],
      [{ max_ttls: 0 }, "protection.max_ttls"],
    ] as const
  ) {
    assert.throws(
      () => parseProtectionConfig(table, "c.toml"),
      (error: unknown) =>
        error instanceof ConfigError && error.message.includes(`'${key}'`),
      key,
    );
  }
});
