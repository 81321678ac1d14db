/**
 * Bad input, generated: every config file and API input is either accepted
 * or rejected with a ConfigError that names a field; never another error,
 * never a hang.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { ConfigError, parseDuration, Registry } from "../mod.ts";
import { validateMeta, validateName } from "../instance.ts";
import { parseConfig } from "../runner/config/config.ts";
import { MemoryDriver } from "../testing/mod.ts";

const RUNS = Deno.env.get("CI") === "true" ? 300 : 200;

function acceptedOrConfigError(run: () => unknown): void {
  try {
    run();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    assert.ok(
      error.message.length > 0 && error.message.length < 2_000,
      error.message,
    );
    assert.ok(
      !error.message.includes("\n") || error.message.startsWith("'"),
      error.message,
    );
  }
}

const anything = fc.oneof(
  fc.string(),
  fc.string({ unit: "grapheme", maxLength: 300 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.array(fc.string(), { maxLength: 5 }),
  fc.dictionary(
    fc.string({ maxLength: 10 }),
    fc.oneof(fc.string(), fc.integer()),
    { maxKeys: 5 },
  ),
  fc.string({ minLength: 2_000, maxLength: 20_000 }),
  fc.date(),
);

Deno.test("durations: any value is a duration or a ConfigError", () => {
  fc.assert(
    fc.property(
      anything,
      fc.constantFrom<"ms" | "s">("ms", "s"),
      (value, unit) => {
        acceptedOrConfigError(() => {
          const ms = parseDuration(value, "ttl", unit);
          assert.ok(Number.isInteger(ms) && ms >= 1);
        });
      },
    ),
    { numRuns: RUNS },
  );
  fc.assert(
    fc.property(
      fc.stringMatching(/^(\d{1,4}(\.\d{1,2})?(ms|s|m|h)){1,4}$/),
      (text) => {
        acceptedOrConfigError(() => parseDuration(text, "ttl"));
      },
    ),
    { numRuns: RUNS },
  );
});

Deno.test("ids, names and meta: accepted exactly when valid", () => {
  fc.assert(
    fc.property(anything, (value) => {
      const valid = typeof value === "string" &&
        /^[A-Za-z0-9._-]{1,128}$/.test(value);
      try {
        validateName("id", value);
        assert.ok(valid, `accepted ${JSON.stringify(value)}`);
      } catch (error) {
        assert.ok(error instanceof ConfigError);
        assert.ok(!valid);
      }
    }),
    { numRuns: RUNS },
  );
  fc.assert(
    fc.property(
      fc.oneof(
        anything,
        fc.dictionary(
          fc.string({ unit: "grapheme" }),
          fc.string({ unit: "grapheme", maxLength: 2_000 }),
          { maxKeys: 80 },
        ),
      ),
      (value) => acceptedOrConfigError(() => validateMeta(value)),
    ),
    { numRuns: RUNS },
  );
});

Deno.test("registry options: any combination is accepted or rejected before anything registers", async () => {
  const driver = new MemoryDriver();
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        service: anything,
        id: anything,
        env: anything,
        version: anything,
        addr: anything,
        meta: anything,
        heartbeatInterval: anything,
        ttl: anything,
        status: anything,
      }, { requiredKeys: [] }),
      async (options) => {
        let registry: Registry | undefined;
        try {
          registry = new Registry({
            driver,
            ...(options as Record<string, never>),
          });
        } catch (error) {
          assert.ok(error instanceof ConfigError, String(error));
          return;
        }
        if (registry.service !== undefined) {
          await registry.start();
          assert.equal(
            (await registry.allInstances(registry.service)).length,
            1,
          );
        }
        await registry.stop();
      },
    ),
    { numRuns: RUNS },
  );
  assert.equal(driver.stored(), 0, "nothing half-registered, nothing left");
});

const tomlValue = fc.oneof(
  fc.string({ maxLength: 30 }).map((s) => JSON.stringify(s)),
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
  fc.constantFrom(
    "true",
    "false",
    "1979-05-27",
    "[]",
    "[1, 2]",
    "{}",
    '"5s"',
    '"1m30s"',
    '"-1s"',
    "inf",
    "nan",
    '"\\u0000"',
    "0x10",
  ),
);
const tomlKey = fc.oneof(
  fc.constantFrom(
    "driver",
    "id",
    "service",
    "env",
    "version",
    "addr",
    "heartbeat_interval",
    "ttl",
    "heartbeat_timeout",
    "stop_timeout",
    "hostname",
    "kill_timeout",
    "servce",
    "ttll",
  ),
  fc.stringMatching(/^[a-z_]{1,12}$/),
);

Deno.test("config files: any [cluster] table is valid or a ConfigError naming the file", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(tomlKey, tomlValue), { maxLength: 8 }),
      fc.array(fc.tuple(fc.stringMatching(/^[a-z]{1,6}$/), tomlValue), {
        maxLength: 4,
      }),
      fc.constantFrom(
        "",
        "[cluster.health]\n",
        "[cluster.http]\n",
        "[cluster.redis]\n",
        "[cluster.meta]\n",
      ),
      (pairs, nested, table) => {
        const text = `[cluster]\n${
          pairs.map(([k, v]) => `${k} = ${v}`).join("\n")
        }\n${table}${nested.map(([k, v]) => `${k} = ${v}`).join("\n")}\n`;
        try {
          parseConfig(text, "fuzz.toml");
        } catch (error) {
          assert.ok(error instanceof ConfigError, `${String(error)}\n${text}`);
          assert.match(error.message, /'fuzz\.toml'/);
        }
      },
    ),
    { numRuns: RUNS },
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (text) => {
      try {
        parseConfig(text, "fuzz.toml");
      } catch (error) {
        assert.ok(error instanceof ConfigError, String(error));
      }
    }),
    { numRuns: RUNS },
  );
});
