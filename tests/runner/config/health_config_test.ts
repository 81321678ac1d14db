import assert from "node:assert/strict";
import { ConfigError } from "../../../errors.ts";
import { parseHealthConfig } from "../../../runner/config/health_config.ts";

Deno.test("health config: one check, its timing defaults, and a shell command run by sh", () => {
  assert.deepEqual(
    parseHealthConfig({ http: "http://127.0.0.1:8080/healthz" }, "c.toml"),
    {
      http: "http://127.0.0.1:8080/healthz",
      tcp: undefined,
      command: undefined,
      interval: 10_000,
      timeout: 2_000,
      failures: 3,
      successes: 1,
    },
  );
  const check = parseHealthConfig(
    { command: "pg_isready -q", interval: "1s", warn_exit_code: 1 },
    "c.toml",
  );
  assert.deepEqual(check.command, ["sh", "-c", "pg_isready -q"]);
  assert.equal(check.timeout, 1_000);
  assert.equal(check.warnExitCode, 1);
  assert.deepEqual(
    parseHealthConfig({ command: ["pg_isready", "-q"] }, "c.toml").command,
    ["pg_isready", "-q"],
  );
});

Deno.test("health config: no check, two checks, and each bad value are refused with the key and the fix", () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{}, /one of 'http' \(a URL\), 'tcp' \(host:port\) or 'command'/],
    [{ http: "http://a:1/", tcp: "a:1" }, /both 'http' and 'tcp'; keep one/],
    [{ http: "ftp://a/" }, /'health\.http': 'ftp:\/\/a\/' must be an http/],
    [{ tcp: "nohost" }, /'health\.tcp': 'nohost' must be host:port/],
    [{ command: [] }, /'health\.command': give a shell command/],
    [{ command: ["ok", ""] }, /'health\.command'/],
    [
      { tcp: "a:1", interval: "1s", timeout: "2s" },
      /2000ms must not be longer/,
    ],
    [{ tcp: "a:1", warn_exit_code: 1 }, /applies to a 'command' check only/],
    [{ command: "x", warn_exit_code: 300 }, /300 must be an exit code/],
  ];
  for (const [table, message] of cases) {
    assert.throws(
      () => parseHealthConfig(table, "c.toml"),
      (error: unknown) =>
        error instanceof ConfigError && message.test(error.message),
      JSON.stringify(table),
    );
  }
});
