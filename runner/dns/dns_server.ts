/**
 * The runner's DNS server: the registry's live instances as A, AAAA and SRV
 * records (see `dns_answers.ts`), over UDP and TCP on one port, for what is
 * not JavaScript (HAProxy, nginx, Envoy, Java, Go) to find them.
 *
 * Answers come from the registry's local, watched view, so a query costs no
 * backend read. While that view is stale (the backend cannot be reached) it
 * answers SERVFAIL: a resolver keeps what it had by its own rules, and no
 * instance that died meanwhile is handed out as live.
 *
 * Malformed packets get FORMERR when their header can be read and are
 * dropped otherwise; a query never grows the server's memory: nothing is
 * kept per query, TCP connections are bounded in number, size and idle
 * time.
 *
 * @module
 */

import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { Buffer } from "node:buffer";
import { isIP, type Server, type Socket as TcpSocket } from "node:net";
import { createServer } from "node:net";
import { getLogger } from "@logtape/logtape";
import type { Registry } from "../../mod.ts";
import type { DnsConfig } from "../config/dns_config.ts";
import { decode, encode, FLAGS, type Packet, RCODE } from "./_packet.ts";
import { answerQuery } from "./dns_answers.ts";

const log = getLogger(["roster", "dns"]);

/** The largest UDP answer without EDNS (RFC 1035). */
const UDP_PLAIN_BYTES = 512;
/** The largest UDP answer with EDNS: the DNS flag day's safe size. */
const UDP_EDNS_BYTES = 1_232;
/** A query larger than this is dropped unread. */
const MAX_QUERY_BYTES = 4_096;
/** Open TCP connections at most; more are closed at once. */
const MAX_TCP_CONNECTIONS = 64;
/** A TCP connection idle this long is closed. */
const TCP_IDLE_MS = 10_000;

/** A running DNS server. */
export interface DnsServer extends AsyncDisposable {
  /** The port it answers on, over UDP and TCP. */
  port: number;
  /** Stops it. */
  shutdown(): Promise<void>;
}

/**
 * Starts the DNS server.
 *
 * @param config Where to listen, the domain and the TTL.
 * @param registry A registry that only discovers, with `cache: true`, on a
 *   connection of its own.
 * @returns The running server, once it listens on both transports.
 * @throws {Error} With `code` `EADDRINUSE` when the port is taken.
 */
export async function startDnsServer(
  config: DnsConfig,
  registry: Registry,
): Promise<DnsServer> {
  const known = new Set<string>();
  const respond = async (query: Packet): Promise<Packet> => {
    const instances = await registry.allInstances();
    if (registry.viewState === "stale") return failure(query, RCODE.SERVFAIL);
    for (const instance of instances) known.add(instance.service);
    return answerQuery(query, {
      domain: config.domain,
      env: registry.env,
      ttlSeconds: config.ttlSeconds,
      instances,
      known,
    });
  };
  const tcp = await listenTcp(config, respond);
  let udp: Socket;
  try {
    udp = await listenUdp(config.hostname, tcp.port, respond);
  } catch (error) {
    await closeTcp(tcp.server, tcp.connections);
    throw error;
  }
  log.info("DNS server on {host}:{port} (UDP and TCP) for {domain}", {
    host: config.hostname,
    port: tcp.port,
    domain: config.domain,
  });
  let closing: Promise<void> | undefined;
  const shutdown = () =>
    closing ??= (async () => {
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      await closeTcp(tcp.server, tcp.connections);
    })();
  return { port: tcp.port, shutdown, [Symbol.asyncDispose]: shutdown };
}

/** An answer that carries only an error code. */
function failure(query: Packet, rcode: number): Packet {
  return {
    type: "response",
    id: query.id ?? 0,
    flags: (query.flags ?? 0) & FLAGS.recursionDesired | rcode,
    questions: query.questions?.length === 1 ? query.questions : [],
  };
}

/**
 * Reads a query, or the reply to send when it cannot be read: FORMERR when
 * at least its header is there, nothing otherwise.
 */
function readQuery(bytes: Buffer): { query: Packet } | { reply?: Buffer } {
  if (bytes.length > MAX_QUERY_BYTES) return {};
  try {
    const query = decode(bytes);
    if (query.type !== "query") return {};
    return { query };
  } catch {
    if (bytes.length < 12) return {};
    const header = Buffer.alloc(12);
    bytes.copy(header, 0, 0, 4);
    // QR set, the opcode and RD kept, RCODE FORMERR; no sections.
    header[2] = 0x80 | (bytes[2]! & 0x79);
    header[3] = RCODE.FORMERR;
    return { reply: header };
  }
}

/** Answers one query's bytes; undefined when nothing is to be sent. */
async function answerBytes(
  bytes: Buffer,
  respond: (query: Packet) => Promise<Packet>,
  limit: (query: Packet) => number,
): Promise<Buffer | undefined> {
  const read = readQuery(bytes);
  if (!("query" in read)) return read.reply;
  let response: Packet;
  try {
    response = await respond(read.query);
  } catch (error) {
    log.warn("Could not answer a DNS query: {error}", {
      error: (error as Error)?.message ?? String(error),
    });
    response = failure(read.query, RCODE.SERVFAIL);
  }
  const encoded = encode(response);
  if (encoded.length <= limit(read.query)) return encoded;
  // Too long for UDP: the header and question with TC; the client asks
  // again over TCP.
  return encode({
    ...response,
    flags: (response.flags ?? 0) | FLAGS.truncated,
    answers: [],
    authorities: [],
    additionals: [],
  });
}

/** The largest UDP answer a query allows: 512 bytes, more with EDNS. */
function udpLimit(query: Packet): number {
  const opt = query.additionals?.find((a) => a.type === "OPT") as
    | { udpPayloadSize?: number }
    | undefined;
  return opt?.udpPayloadSize
    ? Math.min(UDP_EDNS_BYTES, Math.max(UDP_PLAIN_BYTES, opt.udpPayloadSize))
    : UDP_PLAIN_BYTES;
}

function listenUdp(
  hostname: string,
  port: number,
  respond: (query: Packet) => Promise<Packet>,
): Promise<Socket> {
  const socket = createSocket(isIP(hostname) === 6 ? "udp6" : "udp4");
  socket.on("message", (bytes: Buffer, from: RemoteInfo) => {
    answerBytes(bytes, respond, udpLimit).then((reply) => {
      if (reply) socket.send(reply, from.port, from.address);
    }, () => {});
  });
  return new Promise((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(port, hostname, () => {
      socket.off("error", reject);
      socket.on(
        "error",
        (error) => log.warn("DNS over UDP: {error}", { error: error.message }),
      );
      resolve(socket);
    });
  });
}

async function listenTcp(
  config: DnsConfig,
  respond: (query: Packet) => Promise<Packet>,
): Promise<{ server: Server; port: number; connections: Set<TcpSocket> }> {
  const connections = new Set<TcpSocket>();
  const server = createServer((socket) => {
    if (connections.size >= MAX_TCP_CONNECTIONS) {
      socket.destroy();
      return;
    }
    connections.add(socket);
    socket.on("close", () => connections.delete(socket));
    socket.on("error", () => socket.destroy());
    socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
    serveTcpConnection(socket, respond);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return { server, port, connections };
}

/** Reads length-prefixed queries (RFC 1035 §4.2.2) and answers each in turn. */
function serveTcpConnection(
  socket: TcpSocket,
  respond: (query: Packet) => Promise<Packet>,
): void {
  let buffered = Buffer.alloc(0);
  let answering = Promise.resolve();
  socket.on("data", (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 2) {
      const length = buffered.readUInt16BE(0);
      if (length > MAX_QUERY_BYTES) {
        socket.destroy();
        return;
      }
      if (buffered.length < 2 + length) break;
      const bytes = buffered.subarray(2, 2 + length);
      buffered = buffered.subarray(2 + length);
      answering = answering.then(async () => {
        const reply = await answerBytes(bytes, respond, () => 65_535);
        if (!reply || socket.destroyed) return;
        const prefix = Buffer.alloc(2);
        prefix.writeUInt16BE(reply.length);
        socket.write(Buffer.concat([prefix, reply]));
      }).catch(() => {
        socket.destroy();
      });
    }
    if (buffered.length > MAX_QUERY_BYTES + 2) socket.destroy();
  });
}

async function closeTcp(
  server: Server,
  connections: Set<TcpSocket>,
): Promise<void> {
  for (const socket of connections) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
