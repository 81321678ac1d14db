/**
 * A small HTTP server on `node:http` that speaks web `Request` and
 * `Response`, so the status server runs on Deno and Node alike. A streamed
 * body is read only as fast as the client takes it, and cancelled when the
 * client goes.
 *
 * @module
 */

import {
  createServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { getLogger } from "@logtape/logtape";

/**
 * How long a response waits for a client that stopped reading, in ms,
 * before the connection goes.
 */
const DRAIN_TIMEOUT_MS = 30_000;

const log = getLogger(["roster", "http"]);

/** A listening server. */
export interface HttpServer {
  /** The port it listens on. */
  port: number;
  /** Stops listening and ends open connections. */
  close(): Promise<void>;
}

function requestOf(incoming: IncomingMessage, signal: AbortSignal): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming.headers)) {
    if (Array.isArray(value)) value.forEach((v) => headers.append(name, v));
    else if (value !== undefined) headers.set(name, value);
  }
  // Node keeps the first of several Host headers; a request with more than
  // one is ambiguous (RFC 9112 §3.2), and the Host check must not pass on
  // the first alone.
  const hosts =
    incoming.rawHeaders.filter((value, i) =>
      i % 2 === 0 && value.toLowerCase() === "host"
    ).length;
  if (hosts > 1) throw new TypeError("more than one Host header");
  // Throws on a Host or path that is not a URL; the caller answers 400.
  const url = new URL(
    incoming.url ?? "/",
    `http://${incoming.headers.host ?? "localhost"}`,
  );
  if (!/^[^\s/?#@]+$/.test(url.host)) throw new TypeError("bad host");
  return new Request(url, { method: incoming.method, headers, signal });
}

/** The handler's answer, a 400 for an unparsable request, or a 500. */
async function answer(
  incoming: IncomingMessage,
  signal: AbortSignal,
  handler: (request: Request) => Promise<Response>,
  badRequest: () => Response,
): Promise<Response> {
  let request: Request;
  try {
    request = requestOf(incoming, signal);
  } catch {
    // A Host or path that is not a URL.
    return badRequest();
  }
  try {
    return await handler(request);
  } catch (error) {
    // A bug, not the client's fault: one line, never the request's URL.
    log.error("The status server failed to answer: {error}", {
      error: (error as Error)?.message ?? String(error),
    });
    return new Response('{"error":"internal error"}\n', {
      status: 500,
      headers: { "content-type": "application/json; charset=utf-8" },
    });
  }
}

/**
 * Makes a wait for the client to drain what was written: it resolves false
 * once the client left, the body failed (a stream dropped for not
 * reading), or nothing drained for DRAIN_TIMEOUT_MS.
 */
function drainWaiter(
  outgoing: ServerResponse,
  reader: ReadableStreamDefaultReader<Uint8Array>,
): () => Promise<boolean> {
  const onBodyFailed = new Set<() => void>();
  reader.closed.catch(() => onBodyFailed.forEach((settle) => settle()));
  return () =>
    new Promise<boolean>((resolve) => {
      const settle = (ok: boolean) => () => {
        clearTimeout(timer);
        outgoing.off("drain", onDrain);
        outgoing.off("close", onFailed);
        onBodyFailed.delete(onFailed);
        resolve(ok);
      };
      const onDrain = settle(true);
      const onFailed = settle(false);
      outgoing.on("drain", onDrain);
      outgoing.on("close", onFailed);
      onBodyFailed.add(onFailed);
      const timer = setTimeout(onFailed, DRAIN_TIMEOUT_MS);
    });
}

/** Writes a body only as fast as the client reads it. */
async function writeBody(
  body: ReadableStream<Uint8Array>,
  outgoing: ServerResponse,
  gone: AbortSignal,
): Promise<void> {
  const reader = body.getReader();
  gone.addEventListener("abort", () => {
    reader.cancel().catch(() => {});
  }, { once: true });
  const drained = drainWaiter(outgoing, reader);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done || gone.aborted) break;
      // Stop reading while the client is behind: the body's own queue then
      // fills, which is how a slow client is noticed and dropped.
      if (!outgoing.write(value) && !(await drained())) {
        throw new Error("the client did not drain");
      }
    }
    // A clean end still waits (boundedly) for what is on its way.
    if (outgoing.writableNeedDrain && !(await drained())) {
      throw new Error("the client did not drain");
    }
    outgoing.end();
  } catch {
    // The client left, did not read, or the body failed: what it never
    // read is not waited for, and the connection goes.
    reader.cancel().catch(() => {});
    outgoing.destroy();
  }
}

/**
 * Serves `handler` on `hostname:port`.
 *
 * @param options Where to listen.
 * @param handler Answers each request.
 * @param badRequest The answer to a request whose Host or path cannot be parsed.
 * @returns The server, once it listens.
 * @throws {Error} With the system's `code` (`EADDRINUSE`, `EADDRNOTAVAIL`) when it cannot listen.
 */
export function serveHttp(
  options: { hostname: string; port: number },
  handler: (request: Request) => Promise<Response>,
  badRequest: () => Response,
): Promise<HttpServer> {
  const server = createServer(async (incoming, outgoing) => {
    const gone = new AbortController();
    outgoing.once("close", () => gone.abort());
    const response = await answer(incoming, gone.signal, handler, badRequest);
    outgoing.writeHead(
      response.status,
      Object.fromEntries(response.headers.entries()),
    );
    if (!response.body || incoming.method === "HEAD") {
      await response.body?.cancel();
      outgoing.end();
      return;
    }
    await writeBody(response.body, outgoing, gone.signal);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
