import assert from "node:assert/strict";
import type { IKeyValue } from "etcd3";
import { Buffer } from "node:buffer";
import {
  decode,
  instanceOf,
  leaseSeconds,
  seqOf,
  type Stored,
  type TermHolder,
  termOf,
} from "../../../drivers/etcd/_codec.ts";

function kv(value: unknown, revisions: { create: number; mod: number }) {
  return {
    key: Buffer.from("roster/default/i/api-1"),
    value: Buffer.from(
      typeof value === "string" ? value : JSON.stringify(value),
    ),
    create_revision: String(revisions.create),
    mod_revision: String(revisions.mod),
    version: "1",
    lease: "0",
  } as IKeyValue;
}

const stored: Stored = {
  service: "api",
  owner: "0123456789abcdef",
  registeredAt: 1_000,
  beatAt: 2_000,
  ttl: 2_500,
  interval: 800,
  status: "healthy",
  version: "1.0.0",
  addr: "http://127.0.0.1:1",
  hostname: "h",
  pid: 1,
  meta: { zone: "a" },
  why: "registered",
  epoch: 1_000_000,
};

Deno.test("etcd codec: a ttl is a lease of whole seconds, at least etcd's minimum", () => {
  assert.equal(leaseSeconds(100), 2);
  assert.equal(leaseSeconds(2_000), 2);
  assert.equal(leaseSeconds(2_001), 3);
  assert.equal(leaseSeconds(10_000), 10);
});

Deno.test("etcd codec: seq is the key's own, or its epoch (or the legacy one) plus its create revision", () => {
  const key = kv(stored, { create: 7, mod: 9 });
  assert.equal(seqOf(key, stored, 5), 1_000_007);
  assert.equal(seqOf(key, { ...stored, epoch: undefined }, 5), 12);
  assert.equal(seqOf(key, { ...stored, seq: 42 }, 5), 42);
});

Deno.test("etcd codec: a term is the holder's epoch (or the legacy one) plus the key's mod revision", () => {
  const holder: TermHolder = { id: "api-1", seq: 3, epoch: 100 };
  assert.equal(termOf(kv(holder, { create: 1, mod: 9 }), holder, 5), 109);
  assert.equal(
    termOf(
      kv(holder, { create: 1, mod: 9 }),
      { ...holder, epoch: undefined },
      5,
    ),
    14,
  );
});

Deno.test("etcd codec: a foreign value decodes to undefined; an instance reports its lease's expiry", () => {
  assert.equal(decode(kv("not json", { create: 1, mod: 1 })), undefined);
  const decoded = decode(kv(stored, { create: 1, mod: 1 }));
  assert.deepEqual(decoded, stored);
  const instance = instanceOf("default", "api-1", stored, 99);
  assert.equal(instance.seq, 99);
  assert.equal(instance.heartbeatAt, 2_000);
  assert.equal(instance.expiresAt, 2_000 + 3_000);
  assert.equal(instance.weight, 100);
  assert.deepEqual(instance.meta, { zone: "a" });
  assert.equal(
    instanceOf("default", "api-1", stored, 99, 5_000).heartbeatAt,
    5_000,
  );
});
