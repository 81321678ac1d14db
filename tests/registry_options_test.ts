import assert from "node:assert/strict";
import {
  ConfigError,
  type RegistryOptions,
  resolveRegistryOptions,
} from "../mod.ts";
import { validateStatus } from "../registry_options.ts";
import { captureLogs } from "./_log_capture.ts";

/** Options as a registry of service `api` would resolve them. */
function fixture() {
  const make = (options: RegistryOptions = {}) =>
    resolveRegistryOptions({
      service: "api",
      heartbeatInterval: "1s",
      ttl: "3s",
      ...options,
    });
  return { make };
}

Deno.test("defaults: env default, 5 s interval, 15 s ttl, a heartbeat timeout of min(interval / 2, ttl / 3), healthy", () => {
  const options = resolveRegistryOptions({ service: "api" });
  assert.equal(options.env, "default");
  assert.equal(options.heartbeatInterval, 5_000);
  assert.equal(options.ttl, 15_000);
  assert.equal(options.heartbeatTimeout, 2_500);
  assert.equal(options.status, "healthy");
  assert.equal(options.version, "");
  assert.deepEqual(options.meta, {});
  assert.equal(
    resolveRegistryOptions({ heartbeatInterval: "1s", ttl: "1200ms" })
      .heartbeatTimeout,
    400,
  );
});

Deno.test("errors name options by the names the caller gives them, such as a config file's keys", () => {
  assert.throws(
    () =>
      resolveRegistryOptions({ heartbeatInterval: "10s", ttl: "5s" }, {
        ttl: "cluster.ttl",
        heartbeatInterval: "cluster.heartbeat_interval",
      }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.field, "cluster.ttl");
      assert.equal(
        error.message,
        "Cannot start: 'cluster.ttl' (5s) must be greater than 'cluster.heartbeat_interval' (10s); a ttl of three intervals is a good choice",
      );
      return true;
    },
  );
});

Deno.test("validateStatus takes the three health states and points draining and maintenance to their calls", () => {
  assert.equal(validateStatus("status", undefined), "healthy");
  assert.equal(validateStatus("status", "warning"), "warning");
  assert.throws(() => validateStatus("status", "draining"), /use drain\(\)/);
  assert.throws(
    () => validateStatus("status", "maintenance"),
    /use setMaintenance\(\)/,
  );
  assert.throws(
    () => validateStatus("cluster.status", "ok"),
    (error: unknown) =>
      error instanceof ConfigError && error.field === "cluster.status",
  );
});

Deno.test("options are validated with errors that name the field and value", async (t) => {
  const cases: [
    string,
    RegistryOptions,
    string,
    RegExp,
  ][] = [
    [
      "ttl not above interval",
      { heartbeatInterval: "10s", ttl: "5s" },
      "ttl",
      /'ttl' \(5s\) must be greater than 'heartbeatInterval' \(10s\)/,
    ],
    [
      "ttl equal to interval",
      { heartbeatInterval: 1000, ttl: 1000 },
      "ttl",
      /\(1s\) must be greater than/,
    ],
    [
      "bad duration",
      { ttl: "5 parsecs" },
      "ttl",
      /'5 parsecs' is not a duration/,
    ],
    [
      "negative duration",
      { heartbeatInterval: -5 },
      "heartbeatInterval",
      /-5 must be a duration/,
    ],
    ["bad id", { id: "api 1" }, "id", /'api 1' must be 1 to 128 characters/],
    ["long id", { id: "x".repeat(129) }, "id", /must be 1 to 128 characters/],
    ["bad service", { service: "a/b" }, "service", /'a\/b'/],
    ["bad env", { env: "" }, "env", /''/],
    [
      "meta with a number",
      { meta: { zone: 1 as unknown as string } },
      "meta.zone",
      /expected a string, got 1/,
    ],
    [
      "too many meta keys",
      {
        meta: Object.fromEntries(
          Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"]),
        ),
      },
      "meta",
      /65 keys is more than the 64/,
    ],
    [
      "meta value too big",
      { meta: { big: "x".repeat(1025) } },
      "meta.big",
      /1025 bytes, more than the 1024/,
    ],
    [
      "meta too big in all",
      {
        meta: Object.fromEntries(
          Array.from({ length: 10 }, (_, i) => [`k${i}`, "x".repeat(1000)]),
        ),
      },
      "meta",
      /more than the 8192 allowed/,
    ],
    [
      "heartbeat timeout too long",
      { heartbeatTimeout: "2s" },
      "heartbeatTimeout",
      /at most 500ms/,
    ],
    [
      "version not a string",
      { version: 2 as unknown as string },
      "version",
      /expected a string, got 2/,
    ],
  ];
  for (const [name, options, field, message] of cases) {
    await t.step(name, () => {
      const { make } = fixture();
      assert.throws(() => make(options), (error: unknown) => {
        assert.ok(error instanceof ConfigError, String(error));
        assert.equal(error.field, field);
        assert.match(error.message, message);
        return true;
      });
    });
  }
});

Deno.test("a ttl under twice the interval is allowed with a warning", async () => {
  await using logs = await captureLogs();
  const { make } = fixture();
  make({ heartbeatInterval: "2s", ttl: "3s" });
  const warnings = logs.messages().filter((m) => m.startsWith("warning"));
  assert.equal(warnings.length, 1);
  assert.match(warnings[0] as string, /less than twice/);
});
