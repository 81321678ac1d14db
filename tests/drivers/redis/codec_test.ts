/**
 * The Redis driver's formats: a registration's body survives tabs,
 * newlines and backslashes in its fields, and each kind of change-log
 * entry reads back as its change; a foreign entry is skipped.
 */

import assert from "node:assert/strict";
import {
  encodeBody,
  readChange,
  STATUS_CODES,
} from "../../../drivers/redis/_codec.ts";
import { registration } from "../../_registration.ts";

Deno.test("redis codec: a join carries the whole instance, its body escaped and read back", () => {
  const r = registration({
    version: "1.0\twith a tab",
    addr: "http://127.0.0.1:1/a\\b",
    hostname: "host\nname",
    meta: { zone: "eu\t1" },
    heartbeatInterval: 800,
    weight: 30,
  });
  const body = encodeBody(r);
  assert.equal(body.split("\t").length, 7);
  const change = readChange(
    "prod",
    `j\tR\tapi\tapi-1\t42\t1000\t3000\t${STATUS_CODES.warning}\t5000\t${body}`,
  );
  assert.deepEqual(change, {
    type: "join",
    reason: "reregistered",
    instance: {
      id: "api-1",
      service: "api",
      env: "prod",
      version: r.version,
      addr: r.addr,
      meta: { zone: "eu\t1" },
      hostname: r.hostname,
      pid: r.pid,
      status: "warning",
      seq: 42,
      registeredAt: 1000,
      heartbeatAt: 2000,
      expiresAt: 5000,
      heartbeatInterval: 800,
      weight: 30,
    },
  });
});

Deno.test("redis codec: an update says the new status, a leave whom and, for an expiry, the lease's end", () => {
  const update = readChange("prod", "u\th\tapi\tapi-1\t42\td\t9000");
  assert.equal(update?.type, "update");
  assert.equal(update?.reason, "health");
  assert.equal(update?.instance.status, "draining");
  assert.equal(update?.instance.expiresAt, 9000);
  const expired = readChange("prod", "l\te\tapi\tapi-1\t42\t7000");
  assert.equal(expired?.type, "leave");
  assert.equal(expired?.reason, "expired");
  assert.equal(expired?.instance.expiresAt, 7000);
  const left = readChange("prod", "l\td\tapi\tapi-1\t42");
  assert.equal(left?.reason, "deregistered");
  assert.equal(left?.instance.expiresAt, 0);
  assert.equal(left?.instance.seq, 42);
});

Deno.test("redis codec: an entry that is not roster's, or whose status is unknown, is skipped or takes no work", () => {
  assert.equal(readChange("prod", "x\tr\tapi\tapi-1\t1"), undefined);
  assert.equal(readChange("prod", "j\tr\tapi\tapi-1\t0"), undefined);
  assert.equal(readChange("prod", "u\th\tapi\tapi-1\t1\th"), undefined);
  assert.equal(readChange("prod", "j\tq\tapi\tapi-1\t1"), undefined);
  const odd = readChange("prod", "u\th\tapi\tapi-1\t3\t?\t1");
  assert.equal(odd?.instance.status, "unhealthy");
});
