/**
 * The DNS server answers `dig` (Debian's bind9-dnsutils) over UDP and TCP,
 * truncates over UDP what only TCP can carry, and shrugs off malformed
 * packets.
 */

import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import type { Buffer } from "node:buffer";
import { connect } from "node:net";
import { Registry } from "../../../mod.ts";
import { MemoryDriver } from "../../../testing/mod.ts";
import { startDnsServer } from "../../../runner/dns/dns_server.ts";
import { installedBinary, serverTest } from "../../_server_test.ts";

const DIG = installedBinary("/usr/bin/dig", "/usr/local/bin/dig");

async function dig(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await new Deno.Command(DIG!, {
    args: [`@127.0.0.1`, "-p", String(port), "+time=2", "+tries=1", ...args],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(stdout);
}

/** A DNS server over a memory registry with `count` instances of `api`. */
async function fixture(count: number) {
  const driver = new MemoryDriver();
  const members: Registry[] = [];
  for (let i = 1; i <= count; i++) {
    const member = new Registry({
      driver,
      service: "api",
      id: `api-${i}`,
      addr: `http://127.0.0.${1 + (i % 2)}:${8000 + i}`,
      weight: i === 1 ? 50 : 100,
    });
    await member.start();
    members.push(member);
  }
  const reader = new Registry({ driver, cache: true });
  const server = await startDnsServer({
    hostname: "127.0.0.1",
    port: 0,
    domain: "roster",
    ttlSeconds: 1,
  }, reader);
  return {
    port: server.port,
    members,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await reader.stop();
      for (const member of members) await member.stop();
    },
  };
}

const missing = DIG ? undefined : "dig (bind9-dnsutils) is not installed";

Deno.test(serverTest(
  missing,
  "dig resolves SRV and A over UDP and TCP; an unknown service is NXDOMAIN",
  async () => {
    await using f = await fixture(3);
    const srv = await dig(f.port, "+short", "SRV", "_api._tcp.default.roster");
    assert.deepEqual(srv.trim().split("\n").sort(), [
      "0 100 8002 api-2.api.default.roster.",
      "0 100 8003 api-3.api.default.roster.",
      "0 50 8001 api-1.api.default.roster.",
    ]);
    const a = await dig(f.port, "+short", "A", "api.default.roster");
    assert.deepEqual(a.trim().split("\n").sort(), ["127.0.0.1", "127.0.0.2"]);
    const target = await dig(f.port, "+short", "A", "api-2.api.default.roster");
    assert.equal(target.trim(), "127.0.0.1");
    const tcp = await dig(
      f.port,
      "+tcp",
      "+short",
      "SRV",
      "api.default.roster",
    );
    assert.equal(tcp.trim().split("\n").length, 3);
    const none = await dig(f.port, "A", "nope.default.roster");
    assert.match(none, /status: NXDOMAIN/);
    assert.match(none, /flags: qr aa rd/);
    // A member that stops is gone from the next answer.
    await f.members[2]!.stop();
    const after = await dig(f.port, "+short", "SRV", "api.default.roster");
    assert.equal(after.trim().split("\n").length, 2);
  },
));

Deno.test(serverTest(
  missing,
  "an answer too long for UDP is truncated with TC, and dig gets it all over TCP",
  async () => {
    await using f = await fixture(40);
    const udp = await dig(
      f.port,
      "+noedns",
      "+ignore",
      "SRV",
      "api.default.roster",
    );
    assert.match(udp, /flags: qr aa tc rd/);
    assert.match(udp, /ANSWER: 0,/);
    const retried = await dig(
      f.port,
      "+noedns",
      "+short",
      "SRV",
      "api.default.roster",
    );
    assert.equal(retried.trim().split("\n").length, 40);
  },
));

Deno.test("malformed packets over UDP and TCP get FORMERR or nothing, and the server answers on", async () => {
  await using f = await fixture(1);
  const socket = createSocket("udp4");
  const replies: Buffer[] = [];
  socket.on("message", (reply: Buffer) => replies.push(reply));
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  try {
    const send = (bytes: Uint8Array) =>
      new Promise<void>((resolve) =>
        socket.send(bytes, f.port, "127.0.0.1", () => resolve())
      );
    // A header and garbage: FORMERR with the same id.
    await send(
      new Uint8Array([
        0xab,
        0xcd,
        0x01,
        0x00,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        0,
        0xff,
        0xff,
      ]),
    );
    // Too short for a header, and a name that points at itself: dropped or
    // refused, never a crash.
    await send(new Uint8Array([1, 2, 3]));
    await send(
      new Uint8Array([
        0,
        1,
        1,
        0,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        0,
        0xc0,
        12,
        0,
        1,
        0,
        1,
      ]),
    );
    for (let i = 0; i < 500; i++) {
      const random = crypto.getRandomValues(new Uint8Array(1 + (i % 300)));
      await send(random);
    }
    const deadline = Date.now() + 5_000;
    while (!replies.some((r) => r[0] === 0xab && r[1] === 0xcd)) {
      if (Date.now() > deadline) {
        throw new Error("no FORMERR for the garbage query");
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const formerr = replies.find((r) => r[0] === 0xab && r[1] === 0xcd)!;
    assert.equal(formerr[3]! & 0xf, 1);
    assert.ok(formerr[2]! & 0x80, "a response");
  } finally {
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
  // TCP: a length prefix larger than any query closes the connection.
  await new Promise<void>((resolve, reject) => {
    const tcp = connect(f.port, "127.0.0.1", () => {
      tcp.write(new Uint8Array([0xff, 0xff, 1, 2, 3]));
    });
    tcp.on("close", () => resolve());
    tcp.on("error", reject);
  });
  // And it still answers.
  const answers = await new Promise<number>((resolve) => {
    const check = createSocket("udp4");
    check.on("message", (reply: Buffer) => {
      check.close(() => resolve(reply.readUInt16BE(6)));
    });
    check.bind(0, "127.0.0.1", () => {
      // id 7, RD, one question: A api.default.roster
      const name = [
        3,
        ..."api".split("").map((c) => c.charCodeAt(0)),
        7,
        ..."default".split("").map((c) => c.charCodeAt(0)),
        6,
        ..."roster".split("").map((c) => c.charCodeAt(0)),
        0,
      ];
      check.send(
        new Uint8Array([
          0,
          7,
          1,
          0,
          0,
          1,
          0,
          0,
          0,
          0,
          0,
          0,
          ...name,
          0,
          1,
          0,
          1,
        ]),
        f.port,
        "127.0.0.1",
      );
    });
  });
  assert.equal(answers, 1, "one answer");
});
