import assert from "node:assert/strict";
import { instanceOfRow } from "../../../drivers/postgres/_codec.ts";

Deno.test("postgres codec: a row of instances reads as an instance; int8 text becomes numbers", () => {
  const instance = instanceOfRow({
    id: "api-1",
    service: "api",
    version: "1.0.0",
    addr: "http://127.0.0.1:1",
    meta: { zone: "a" },
    hostname: "h",
    pid: 12,
    status: "warning",
    seq: "1700000000001",
    registered_at: "1700000000000",
    heartbeat_at: "1700000000500",
    expires_at: "1700000003500",
    heartbeat_interval: 1_000,
    weight: null,
  }, "prod");
  assert.equal(instance.env, "prod");
  assert.equal(instance.seq, 1_700_000_000_001);
  assert.equal(instance.expiresAt, 1_700_000_003_500);
  assert.equal(instance.status, "warning");
  assert.equal(instance.weight, 100);
  assert.deepEqual(instance.meta, { zone: "a" });
});
