/**
 * A small HTTP server on `node:http` that speaks web `Request` and
 * `Response`, so the status server runs on Deno and Node alike. A streamed
 * body is read only as fast as the client takes it, and cancelled when the
 * client goes.
 *
 * @module
 */

import { createServer, type IncomingMessage } from "node:http";
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
    let request: Request | undefined;
    try {
      request = requestOf(incoming, gone.signal);
    } catch { /* a Host or path that is not a URL: answered below */ }
    let response: Response;
    if (!request) response = badRequest();
    else {
      try {
        response = await handler(request);
      } catch (error) {
        // A bug, not the client's fault: one line, never the request's URL.
        log.error("The status server failed to answer: {error}", {
          error: (error as Error)?.message ?? String(error),
        });
        response = new Response('{"error":"internal error"}\n', {
          status: 500,
          headers: { "content-type": "application/json; charset=utf-8" },
        });
      }
    }
    outgoing.writeHead(
      response.status,
      Object.fromEntries(response.headers.entries()),
    );
    if (!response.body || incoming.method === "HEAD") {
      await response.body?.cancel();
      outgoing.end();
      return;
    }
    const reader = response.body.getReader();
    gone.signal.addEventListener("abort", () => {
      reader.cancel().catch(() => {});
    }, { once: true });
    // Whether the client drained what was written: false once it left,
    // the body failed (a stream dropped for not reading), or it has not
    // drained for DRAIN_TIMEOUT_MS.
    const onBodyFailed = new Set<() => void>();
    reader.closed.catch(() => onBodyFailed.forEach((settle) => settle()));
    const drained = () =>
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
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || gone.signal.aborted) break;
        // Stop reading while the client is behind: the body's own queue
        // then fills, which is how a slow client is noticed and dropped.
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
