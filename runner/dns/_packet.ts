/**
 * The DNS packet codec (`dns-packet` from npm), in one place: its types come
 * from DefinitelyTyped.
 *
 * @module
 */

// @ts-types="npm:@types/dns-packet@5.6.5"
import * as dnsPacket from "dns-packet";

export type { Answer, Packet, Question } from "dns-packet";

/** Decodes a DNS message; throws on a malformed one. */
export const decode = dnsPacket.decode;
/** Encodes a DNS message. */
export const encode = dnsPacket.encode;

/** Header flag bits. */
export const FLAGS = {
  authoritative: dnsPacket.AUTHORITATIVE_ANSWER,
  truncated: dnsPacket.TRUNCATED_RESPONSE,
  recursionDesired: dnsPacket.RECURSION_DESIRED,
} as const;

/** Response codes, as the header's low four bits carry them. */
export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
} as const;
