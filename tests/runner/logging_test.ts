import assert from "node:assert/strict";
import { ConfigError } from "../../errors.ts";
import {
  configureRunnerLogging,
  LOG_FORMATS,
  LOG_LEVELS,
} from "../../runner/logging.ts";

Deno.test("runner logging: a bad level or format is a config error naming the flag and the choices", async () => {
  await assert.rejects(
    configureRunnerLogging("loud", "text"),
    (error: unknown) =>
      error instanceof ConfigError && error.field === "--log-level" &&
      error.message.includes("'loud' is not a level; use one of trace, debug"),
  );
  await assert.rejects(
    configureRunnerLogging("info", "xml"),
    (error: unknown) =>
      error instanceof ConfigError && error.field === "--log-format" &&
      /'xml' is not a format; use text or json/.test(error.message),
  );
  // (Configuring for real takes over the process's stderr: tests/runner/
  // main_test.ts runs the runner with each format.)
  assert.deepEqual(LOG_LEVELS, [
    "trace",
    "debug",
    "info",
    "warning",
    "error",
    "fatal",
  ]);
  assert.deepEqual(LOG_FORMATS, ["text", "json"]);
});
