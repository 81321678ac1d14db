/** The Redis scripts obey Cluster's rules, and the value formats read back. */

import assert from "node:assert/strict";
import * as scripts from "../../../drivers/redis/_scripts.ts";
import {
  encodeBody,
  readChange,
  readService,
  STATUS_CODES,
} from "../../../drivers/redis/_codec.ts";
import type { Instance } from "../../../mod.ts";

const SOURCES: [string, string][] = [];
for (const [name, value] of Object.entries(scripts)) {
  if (typeof value === "string") SOURCES.push([name, value]);
}

Deno.test("a zeroed beat slot's byte has fewer bits set than any byte of a slot that holds something, so BITCOUNT tells empty slots apart", () => {
  const bits = (char: string) =>
    [...char.charCodeAt(0).toString(2)].filter((b) => b === "1").length;
  assert.equal(bits("0"), 2);
  // Digits of expiry, seq and grace; hex of the owner digest; statuses;
  // flags.
  const held = [
    ..."123456789abcdef",
    ...Object.values(STATUS_CODES),
    ..."-gr",
  ];
  for (const char of held) assert.ok(bits(char) >= 3, `'${char}'`);
});

Deno.test("every key a script touches comes from KEYS, never built in Lua", () => {
  assert.ok(SOURCES.length >= 8);
  // The names scripts give the entries of KEYS.
  const keyName = /^(KEYS\[[^\]]+\]|K\.\w+|K_\w+|base\.\w+)$/;
  for (const [name, source] of SOURCES) {
    for (
      const call of source.matchAll(/redis\.call\('(\w+)'(?:, ([^,)]+))?/g)
    ) {
      const [, command, key] = call;
      if (command === "TIME" || command === "INFO") continue;
      assert.match(String(key).trim(), keyName, `${name}: ${call[0]}`);
    }
    assert.doesNotMatch(source, /\bbase \.\./, `${name} builds a key`);
  }
});

Deno.test("scripts publish only to the env's channel, and with pcall: a user without rights to it still writes", () => {
  let published = 0;
  for (const [name, source] of SOURCES) {
    assert.doesNotMatch(source, /redis\.call\('PUBLISH'/, name);
    for (const call of source.matchAll(/redis\.pcall\('PUBLISH', ([^,]+),/g)) {
      published++;
      assert.match(call[1]!, /^changed_channel\(K(EYS\[2\]|_META)\)$/, name);
    }
  }
  assert.ok(published >= 2);
});

Deno.test("read scripts declare that they write nothing", () => {
  for (const name of ["READ_STATE", "LIVE_SERVICES", "READ_CHANGES"]) {
    const source = scripts[name as keyof typeof scripts] as string;
    assert.match(source, /^#!lua flags=no-writes\n/, name);
    assert.doesNotMatch(
      source,
      /redis\.call\('(SET|HSET|ZADD|DEL|XADD|HINCRBY|SETRANGE|APPEND)'/,
      name,
    );
  }
});

function slot(expiresAt: number, status: "h" | "u", seq: number): string {
  return String(expiresAt).padStart(13, "0") + status +
    String(seq).padStart(16, "0") + "0123456789abcdef" + "-" + "0".repeat(13);
}

Deno.test("a listing pairs each record with its slot, and shows only live ones", () => {
  const body = `1.0\thttp://a\thost\t7\t${JSON.stringify({ zone: "eu" })}`;
  const packed = [
    "gen",
    `a\t10\t1000\t3000\t0\t${body}`,
    `gone\t11\t1000\t3000\t1\t${body}`, // its slot now holds another seq
    `late\t12\t1000\t3000\t2\t${body}`, // expired
    `a\t10\t1000\t3000\t3\t${body}`, // a restored copy, fresher
    `far\t13\t1000\t3000\t9\t${body}`, // a slot past the slots' end
    `odd\tx\t1000\t3000\t0\t${body}`, // not a seq
    `zero\t0\t1000\t3000\t4\t${body}`, // no seq: an unused slot's
    `minus\t15\t1000\t3000\t-1\t${body}`, // not a slot (nor the last)
    // Numbers as records never write them, whose values would match:
    `spaced\t15\t1000\t3000\t 5\t${body}`,
    `hex\t15\t1000\t3000\t0x5\t${body}`,
    `part\t15\t1000\t3000\t5.0\t${body}`,
    `empty\t10\t1000\t3000\t\t${body}`,
    `power\t1.5e1\t1000\t3000\t5\t${body}`,
    `unsafe\t9007199254740993\t1000\t3000\t6\t${body}`,
    `exponent\t1e2\t1000\t3000\t7\t${body}`, // 100, in 3 characters
    `exponent0\t1e03\t1000\t3000\t8\t${body}`, // 1000, in 4
    `blank\t10\t1000\t3000\t \t${body}`, // a space reads as 0
    "",
  ].join("\n");
  const beats = slot(5000, "h", 10) + slot(9000, "u", 99) +
    slot(1500, "h", 12) + slot(6000, "u", 10) + slot(9000, "h", 0) +
    slot(9000, "h", 15) + slot(9000, "h", 9007199254740992) +
    slot(9000, "h", 100) + slot(9000, "h", 1000);
  const found = new Map<string, Instance>();
  readService(found, "default", "api", packed, beats, 2000);
  assert.deepEqual([...found.keys()], ["a"]);
  const a = found.get("a") as Instance;
  assert.equal(a.expiresAt, 6000);
  assert.equal(a.heartbeatAt, 3000);
  assert.equal(a.status, "unhealthy");
  assert.deepEqual(a.meta, { zone: "eu" });
  assert.equal(a.pid, 7);
});

Deno.test("a listing names the lapses no beat of their service came after, with their intervals", () => {
  const body = (interval: number) =>
    `1.0\thttp://a\thost\t7\t{}\t${interval}\t100`;
  const packed = [
    "gen",
    `a\t10\t1000\t3000\t0\t${body(300)}`,
    `b\t11\t1000\t3000\t1\t${body(0)}`, // written before intervals were kept
    "",
  ].join("\n");
  // Both lapsed at 1500 with a ttl of 3000 (the one without an interval
  // counts a third of it): a pause or crashes.
  const beats = slot(1500, "h", 10) + slot(1500, "h", 11);
  const found = new Map<string, Instance>();
  assert.deepEqual(
    readService(found, "default", "api", packed, beats, 2000),
    [{ id: "a", heartbeatInterval: 300 }, { id: "b", heartbeatInterval: 1000 }],
  );
  // A beat of the service after their halfway (at 1000) explains them as
  // crashes.
  const fresher = beats + slot(4000, "h", 12);
  const withC = packed + `c\t12\t1000\t3000\t2\t${body(300)}\n`;
  assert.deepEqual(
    readService(found, "default", "api", withC, fresher, 2000),
    [],
  );
  assert.deepEqual([...found.keys()], ["c"]);
});

Deno.test("change-log entries read back; a foreign one is skipped", () => {
  const body = "1.0\t\th\t1\t{}";
  const join = readChange(
    "default",
    `j\tr\tapi\ta\t10\t1000\t3000\th\t4000\t${body}`,
  );
  assert.equal(join?.type, "join");
  assert.equal(join?.reason, "registered");
  assert.equal(join?.instance.heartbeatAt, 1000);
  const update = readChange("default", "u\th\tapi\ta\t10\tu\t5000");
  assert.equal(update?.type, "update");
  assert.equal(update?.instance.status, "unhealthy");
  const leave = readChange("default", "l\te\tapi\ta\t10");
  assert.deepEqual([leave?.type, leave?.reason, leave?.instance.seq], [
    "leave",
    "expired",
    10,
  ]);
  assert.equal(leave?.instance.expiresAt, 0, "a record from before");
  // An expiry carries when the lapsed lease ended.
  const expired = readChange("default", "l\te\tapi\ta\t10\t7000");
  assert.equal(expired?.instance.expiresAt, 7000);
  assert.equal(readChange("default", "junk\tjunk"), undefined);
  // A seq as the scripts never write one, though Number() reads it.
  for (const seq of ["1e2", "0x10", " 5", "010"]) {
    assert.equal(readChange("default", `l\te\tapi\ta\t${seq}`), undefined);
  }
  assert.equal(
    readChange("default", "j\tr\tapi\ta\t10\t1\t2\th\t3\tv\ta\th\tx\t{broken"),
    undefined,
  );
});

Deno.test("a body with tabs, newlines and backslashes reads back as it was", () => {
  const registration = {
    id: "a",
    service: "api",
    env: "default",
    version: "1.0\tbeta\nline\\two",
    addr: "http://a\\b",
    meta: { note: "tab\there\nnewline", 'quote"d': "x" },
    hostname: "h\t1",
    pid: 7,
    owner: "o",
    status: "healthy" as const,
    ttl: 1000,
    heartbeatInterval: 300,
    weight: 7,
  };
  const body = encodeBody(registration);
  assert.doesNotMatch(body, /\n/);
  const packed = `gen\na\t10\t1000\t3000\t0\t${body}\n`;
  const found = new Map<string, Instance>();
  readService(found, "default", "api", packed, slot(5000, "h", 10), 2000);
  const a = found.get("a") as Instance;
  assert.equal(a.version, registration.version);
  assert.equal(a.addr, registration.addr);
  assert.equal(a.hostname, registration.hostname);
  assert.deepEqual(a.meta, registration.meta);
  assert.equal(a.heartbeatInterval, 300);
  assert.equal(a.weight, 7);

  // A body written before the interval and weight were kept reads back
  // with an interval of 0 and a weight of 100.
  const withoutWeight = body.slice(0, body.lastIndexOf("\t"));
  const old = withoutWeight.slice(0, withoutWeight.lastIndexOf("\t"));
  found.clear();
  readService(
    found,
    "default",
    "api",
    `gen\na\t10\t1000\t3000\t0\t${old}\n`,
    slot(5000, "h", 10),
    2000,
  );
  assert.equal(found.get("a")?.heartbeatInterval, 0);
  assert.equal(found.get("a")?.weight, 100);
  assert.deepEqual(found.get("a")?.meta, registration.meta);
});
