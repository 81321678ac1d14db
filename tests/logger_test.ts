import assert from "node:assert/strict";
import { errorMessage, errorStack, logger } from "../_logger.ts";

Deno.test("loggers sit under the roster category", () => {
  assert.deepEqual(logger("redis").category, ["roster", "redis"]);
  assert.deepEqual(logger().category, ["roster"]);
});

Deno.test("errorMessage quotes a message, never the error object and what it carries", () => {
  const error = Object.assign(new Error("Command timed out"), {
    command: { name: "evalsha", args: ["owner-token"] },
  });
  assert.equal(errorMessage(error), "Command timed out");
  assert.equal(errorMessage("plain"), "plain");
  assert.ok(errorStack(error).startsWith("Error: Command timed out"));
  assert.ok(!errorStack(error).includes("owner-token"));
  assert.equal(errorStack(42), "42");
});
