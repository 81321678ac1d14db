import assert from "node:assert/strict";
import { ConfigError } from "../../errors.ts";
import { loadDriverModule } from "../../contract/driver_config.ts";

function notFound(pkg: string): Error {
  return Object.assign(
    new Error(`Cannot find package '${pkg}' imported from /app/drivers/x.js`),
    { code: "ERR_MODULE_NOT_FOUND" },
  );
}

Deno.test("a driver's missing client library is a ConfigError naming it and the install", async () => {
  const error = await loadDriverModule(
    "etcd",
    "etcd3",
    () => Promise.reject(notFound("etcd3")),
  ).catch((e) => e);
  assert.ok(error instanceof ConfigError);
  assert.equal(error.field, "driver");
  assert.match(
    error.message,
    /^Cannot use the 'etcd' driver: its client library, the npm package 'etcd3', is not installed; install it beside roster with 'npm install etcd3'$/,
  );
  assert.ok(error.cause instanceof Error);
});

Deno.test("any other failure to load passes through unchanged", async () => {
  // Another package missing (one the client library needs) is not the
  // client library missing: its own error says more.
  const other = notFound("pg-types");
  assert.equal(
    await loadDriverModule("postgres", "pg", () => Promise.reject(other))
      .catch((e) => e),
    other,
  );
  const broken = new SyntaxError("Unexpected token");
  assert.equal(
    await loadDriverModule("postgres", "pg", () => Promise.reject(broken))
      .catch((e) => e),
    broken,
  );
  assert.equal(
    await loadDriverModule("postgres", "pg", () => Promise.resolve(42)),
    42,
  );
});
