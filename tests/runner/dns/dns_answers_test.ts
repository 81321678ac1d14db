import assert from "node:assert/strict";
import type { Instance } from "../../../mod.ts";
import { answerQuery, type DnsZone } from "../../../runner/dns/dns_answers.ts";
import type { Packet } from "../../../runner/dns/_packet.ts";

function instance(overrides: Partial<Instance>): Instance {
  return {
    id: "api-1",
    service: "api",
    env: "prod",
    version: "1.0.0",
    addr: "http://10.0.0.1:8080",
    meta: {},
    status: "healthy",
    weight: 100,
    seq: 11,
    hostname: "h",
    pid: 1,
    registeredAt: 0,
    heartbeatAt: 0,
    expiresAt: 0,
    heartbeatInterval: 5_000,
    ...overrides,
  };
}

const ZONE: DnsZone = {
  domain: "roster",
  env: "prod",
  ttlSeconds: 2,
  known: new Set(["api", "db", "empty"]),
  instances: [
    instance({}),
    instance({
      id: "api-2",
      addr: "10.0.0.2:8081",
      status: "warning",
      seq: 12,
    }),
    instance({ id: "api-3", addr: "http://[fd00::3]:8082", seq: 13 }),
    instance({ id: "api-4", addr: "http://10.0.0.4:8083", status: "draining" }),
    instance({ id: "api.5", addr: "https://api5.internal", seq: 15 }),
    instance({ id: "db-1", service: "db", addr: "", seq: 20 }),
  ],
};

/** A record as the tests read it. */
type Rr = { name: string; type: string; ttl?: number; data?: unknown };
type Question = NonNullable<Packet["questions"]>[number];

function ask(name: string, type: string, zone = ZONE) {
  const response = answerQuery({
    type: "query",
    id: 42,
    flags: 1 << 8,
    questions: [{ name, type } as Question],
  }, zone);
  const answers = (response.answers ?? []) as Rr[];
  return {
    response,
    rcode: (response.flags ?? 0) & 0xf,
    answers,
    additionals: (response.additionals ?? []) as Rr[],
    data: answers.map((a) => a.data),
  };
}

Deno.test("A and AAAA of a service: the IP hosts of the instances that take work", () => {
  assert.deepEqual(ask("api.prod.roster", "A").data.sort(), [
    "10.0.0.1",
    "10.0.0.2",
  ]);
  assert.deepEqual(ask("API.Prod.Roster.", "AAAA").data, ["fd00::3"]);
  const { response } = ask("api.prod.roster", "A");
  assert.equal(response.id, 42);
  assert.ok((response.flags ?? 0) & (1 << 10), "authoritative");
  assert.ok((response.flags ?? 0) & (1 << 8), "RD copied");
  assert.equal(ask("api.prod.roster", "A").answers[0]?.ttl, 2);
});

Deno.test("SRV under the service name and the RFC 2782 name: weight, port, and a target that resolves", () => {
  for (const name of ["api.prod.roster", "_api._tcp.prod.roster"]) {
    const { answers, additionals } = ask(name, "SRV");
    const records = answers.map((a) =>
      a.data as {
        weight: number;
        port: number;
        target: string;
      }
    );
    assert.deepEqual(
      records.map((r) => [r.target, r.port, r.weight]),
      [
        ["api-1.api.prod.roster", 8080, 100],
        ["api-2.api.prod.roster", 8081, 10], // warning: a tenth
        ["api-3.api.prod.roster", 8082, 100],
        ["api5.internal", 443, 100], // a name: the target itself
      ],
    );
    // The IP targets come with their addresses.
    assert.deepEqual(
      additionals.map((a) => [a.name, a.type, a.data]),
      [
        ["api-1.api.prod.roster", "A", "10.0.0.1"],
        ["api-2.api.prod.roster", "A", "10.0.0.2"],
        ["api-3.api.prod.roster", "AAAA", "fd00::3"],
      ],
    );
  }
  assert.deepEqual(ask("api-2.api.prod.roster", "A").data, ["10.0.0.2"]);
});

Deno.test("unknown names are NXDOMAIN, a known service with none that takes work an empty NOERROR with the SOA", () => {
  const NXDOMAIN = 3;
  assert.equal(ask("nope.prod.roster", "A").rcode, NXDOMAIN);
  assert.equal(ask("api.staging.roster", "A").rcode, NXDOMAIN);
  assert.equal(ask("_nope._tcp.prod.roster", "SRV").rcode, NXDOMAIN);
  assert.equal(ask("api-4.api.prod.roster", "A").rcode, NXDOMAIN);
  for (
    const [name, type] of [["empty.prod.roster", "A"], [
      "db.prod.roster",
      "SRV",
    ], ["api.prod.roster", "TXT"]]
  ) {
    const { rcode, answers, response } = ask(name!, type!);
    assert.equal(rcode, 0, `${name} ${type}`);
    assert.deepEqual(answers, []);
    assert.equal(response.authorities?.[0]?.type, "SOA");
  }
  // Outside the domain: refused, not resolved.
  assert.equal(ask("example.com", "A").rcode, 5);
});

Deno.test("what is not a plain query gets NOTIMP or FORMERR", () => {
  const notify = answerQuery({
    type: "query",
    id: 1,
    flags: 4 << 11,
    questions: [{ name: "api.prod.roster", type: "A" }],
  }, ZONE);
  assert.equal((notify.flags ?? 0) & 0xf, 4);
  const two = answerQuery({
    type: "query",
    id: 1,
    questions: [
      { name: "api.prod.roster", type: "A" },
      { name: "db.prod.roster", type: "A" },
    ],
  }, ZONE);
  assert.equal((two.flags ?? 0) & 0xf, 1);
});
