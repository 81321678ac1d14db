/**
 * What the DNS server answers, as a pure function of a query and the
 * registry's live instances:
 *
 * - `<service>.<env>.<domain>.`: A and AAAA (the instances' `addr` hosts
 *   that are IP addresses) and SRV;
 * - `_<service>._tcp.<env>.<domain>.`: SRV, the RFC 2782 name (HAProxy asks
 *   for SRV only under a name that starts with `_`);
 * - `<id>.<service>.<env>.<domain>.`: one instance's A or AAAA, the target
 *   of its SRV record (an id that is no DNS label is `seq-<seq>` there).
 *
 * Only instances that take work (healthy or warning) are answered. SRV
 * records carry the instance's weight (a tenth while `warning`) and its
 * `addr` port. An unknown service is NXDOMAIN; a known one with none live,
 * or a type it has no records of, an empty NOERROR with the zone's SOA.
 *
 * @module
 */

import { isIP } from "node:net";
import type { Instance } from "../../mod.ts";
import { parseInstanceAddress } from "../instance_address.ts";
import {
  type Answer,
  FLAGS,
  type Packet,
  type Question,
  RCODE,
} from "./_packet.ts";

/** What the server answers from. */
export interface DnsZone {
  /** The domain, lowercase, without the final dot. */
  domain: string;
  /** The env this runner serves. */
  env: string;
  /** The TTL of every record, in seconds. */
  ttlSeconds: number;
  /** The live instances, healthy or not. */
  instances: readonly Instance[];
  /** Services seen since the server started: none live is not NXDOMAIN. */
  known: ReadonlySet<string>;
}

/** An instance as DNS shows it. */
interface Endpoint {
  instance: Instance;
  /** Its `addr` host: an IP address or a name. */
  host: string;
  port: number;
  /** The name its SRV record points to. */
  target: string;
}

/**
 * Answers one DNS query.
 *
 * @param query The decoded query.
 * @param zone The instances and the names they answer to.
 * @returns The response to encode.
 *
 * @example
 * ```ts
 * import { answerQuery } from "./dns_answers.ts";
 * import assert from "node:assert/strict";
 *
 * const response = answerQuery(
 *   { type: "query", id: 7, questions: [{ type: "A", name: "api.prod.roster" }] },
 *   { domain: "roster", env: "prod", ttlSeconds: 2, instances: [], known: new Set() },
 * );
 * assert.equal(response.flags! & 0xf, 3); // NXDOMAIN
 * ```
 */
export function answerQuery(query: Packet, zone: DnsZone): Packet {
  const reply = (rcode: number, answers: Answer[] = [], extra: Answer[] = []) =>
    response(query, zone, rcode, answers, extra);
  // The opcode is bits 11–14 of the flags; only QUERY (0) is served.
  if (query.type !== "query" || (((query.flags ?? 0) >> 11) & 0xf) !== 0) {
    return reply(RCODE.NOTIMP);
  }
  const question = query.questions?.length === 1
    ? query.questions[0]
    : undefined;
  if (!question) return reply(RCODE.FORMERR);
  if ((question.class ?? "IN") !== "IN") return reply(RCODE.REFUSED);
  const name = question.name.toLowerCase().replace(/\.$/, "");
  const { domain } = zone;
  if (name === domain) {
    return question.type === "SOA"
      ? reply(RCODE.NOERROR, [soa(zone)])
      : reply(RCODE.NOERROR);
  }
  if (!name.endsWith(`.${domain}`)) return reply(RCODE.REFUSED);
  const relative = name.slice(0, -(domain.length + 1));
  const env = zone.env.toLowerCase();
  if (relative === env) return reply(RCODE.NOERROR);
  if (!relative.endsWith(`.${env}`)) return reply(RCODE.NXDOMAIN);
  const inEnv = relative.slice(0, -(env.length + 1));
  return answerInEnv(inEnv, question, zone, reply);
}

function answerInEnv(
  inEnv: string,
  question: Question,
  zone: DnsZone,
  reply: (rcode: number, answers?: Answer[], extra?: Answer[]) => Packet,
): Packet {
  const known = new Set([...zone.known].map((s) => s.toLowerCase()));
  const endpoints = zone.instances
    .filter((i) => i.status === "healthy" || i.status === "warning")
    .map((i) => endpointOf(i, zone))
    .filter((e): e is Endpoint => e !== undefined);
  const ofService = (service: string) =>
    endpoints.filter((e) => e.instance.service.toLowerCase() === service);
  const srvName = /^_([^.]+(?:\.[^.]+)*)\._tcp$/.exec(inEnv);
  if (srvName) {
    const service = srvName[1]!;
    if (!known.has(service)) return reply(RCODE.NXDOMAIN);
    if (question.type !== "SRV") return reply(RCODE.NOERROR);
    return srvReply(question.name, ofService(service), zone, reply);
  }
  if (known.has(inEnv)) {
    const found = ofService(inEnv);
    if (question.type === "SRV") {
      return srvReply(question.name, found, zone, reply);
    }
    if (question.type === "A" || question.type === "AAAA") {
      return reply(RCODE.NOERROR, addressRecords(question, found, zone));
    }
    return reply(RCODE.NOERROR);
  }
  // `<target>.<service>`: one instance, by the name its SRV points to.
  const target = `${inEnv}.${zone.env}.${zone.domain}`.toLowerCase();
  const one = endpoints.filter((e) => e.target === target);
  if (one.length === 0) return reply(RCODE.NXDOMAIN);
  if (question.type === "A" || question.type === "AAAA") {
    return reply(RCODE.NOERROR, addressRecords(question, one, zone));
  }
  return reply(RCODE.NOERROR);
}

function srvReply(
  name: string,
  endpoints: Endpoint[],
  zone: DnsZone,
  reply: (rcode: number, answers?: Answer[], extra?: Answer[]) => Packet,
): Packet {
  const answers: Answer[] = endpoints.map((e) => ({
    type: "SRV",
    name,
    ttl: zone.ttlSeconds,
    data: {
      priority: 0,
      weight: srvWeight(e.instance),
      port: e.port,
      target: isIP(e.host) ? e.target : e.host,
    },
  }));
  const extra: Answer[] = endpoints.filter((e) => isIP(e.host)).map((e) => ({
    type: isIP(e.host) === 6 ? "AAAA" : "A",
    name: e.target,
    ttl: zone.ttlSeconds,
    data: e.host,
  }));
  return reply(RCODE.NOERROR, answers, extra);
}

function addressRecords(
  question: Question,
  endpoints: Endpoint[],
  zone: DnsZone,
): Answer[] {
  const family = question.type === "AAAA" ? 6 : 4;
  const hosts = new Set(
    endpoints.map((e) => e.host).filter((host) => isIP(host) === family),
  );
  return [...hosts].map((host) => ({
    type: family === 6 ? "AAAA" : "A",
    name: question.name,
    ttl: zone.ttlSeconds,
    data: host,
  }));
}

/** SRV weight: the instance's, a tenth while `warning`, within 0–65535. */
function srvWeight(instance: Instance): number {
  const weight = instance.status === "warning"
    ? Math.max(instance.weight > 0 ? 1 : 0, Math.floor(instance.weight / 10))
    : instance.weight;
  return Math.min(65_535, Math.max(0, Math.round(weight)));
}

/** The host, port and SRV target of an instance, from its `addr`. */
function endpointOf(instance: Instance, zone: DnsZone): Endpoint | undefined {
  const address = parseInstanceAddress(instance.addr);
  if (!address) return undefined;
  const { host, port } = address;
  const label = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i.test(instance.id)
    ? instance.id
    : `seq-${instance.seq}`;
  const target = `${label}.${instance.service}.${zone.env}.${zone.domain}`
    .toLowerCase();
  return { instance, host, port, target };
}

function soa(zone: DnsZone): Answer {
  return {
    type: "SOA",
    name: zone.domain,
    ttl: zone.ttlSeconds,
    data: {
      mname: `ns.${zone.domain}`,
      rname: `hostmaster.${zone.domain}`,
      serial: 1,
      refresh: 60,
      retry: 10,
      expire: 600,
      // Negative answers are cached no longer than positive ones.
      minimum: zone.ttlSeconds,
    },
  };
}

function response(
  query: Packet,
  zone: DnsZone,
  rcode: number,
  answers: Answer[],
  extra: Answer[],
): Packet {
  const negative = answers.length === 0 && rcode !== RCODE.NOTIMP &&
    rcode !== RCODE.FORMERR && rcode !== RCODE.REFUSED;
  return {
    type: "response",
    id: query.id ?? 0,
    flags: FLAGS.authoritative |
      ((query.flags ?? 0) & FLAGS.recursionDesired) | rcode,
    questions: query.questions?.length === 1 ? query.questions : [],
    answers,
    authorities: negative ? [soa(zone)] : [],
    additionals: extra,
  };
}
