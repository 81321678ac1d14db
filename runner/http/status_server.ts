/**
 * The runner's status server: `GET /instances`, `/healthz`, `/metrics`, and
 * a live dashboard at `/`. Off loopback it requires a bearer token, compared
 * in constant time.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Registry } from "../../mod.ts";
import { DASHBOARD_CSP, DASHBOARD_HTML, FAVICON_SVG } from "./dashboard.ts";
import type { HttpConfig } from "../config/http_config.ts";
import { serveHttp } from "./_http_server.ts";
import type { RunnerMetrics } from "./metrics.ts";
import {
  type SelfDetail,
  type StatusSnapshot,
  StatusView,
} from "./status_view.ts";

const log = getLogger(["roster", "http"]);
const encoder = new TextEncoder();

/** How many snapshots a stream may leave unread before it is dropped. */
const STREAM_BACKLOG = 8;

/** The default bound on open event streams. */
export const DEFAULT_MAX_STREAMS = 100;

const SERVICE_NAME = /^[A-Za-z0-9._-]{1,128}$/;

const encoded = new WeakMap<StatusSnapshot, Uint8Array>();

/** One server-sent event per snapshot, encoded once for every stream. */
function encodeEvent(snapshot: StatusSnapshot): Uint8Array {
  let bytes = encoded.get(snapshot);
  if (bytes === undefined) {
    bytes = encoder.encode(`data: ${JSON.stringify(snapshot)}\n\n`);
    encoded.set(snapshot, bytes);
  }
  return bytes;
}

/** A running status server. */
export interface StatusServer extends AsyncDisposable {
  /** The port it listens on. */
  port: number;
  /** Stops it, ending every open event stream. */
  shutdown(): Promise<void>;
}

async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(
    await crypto.subtle.digest("SHA-256", encoder.encode(text)),
  );
}

/** Compares two secrets without leaking, by timing, where they differ. */
async function sameSecret(given: string, expected: string): Promise<boolean> {
  // Hashing first makes the comparison length-independent.
  const [a, b] = await Promise.all([digest(given), digest(expected)]);
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}

/**
 * Whether a `Host` header names this server: the address it is bound to, or
 * a loopback name. Without a token this is what stops DNS rebinding, where a
 * web page on `evil.example` resolves its own name to 127.0.0.1 and reads
 * the tokenless server from the victim's browser.
 */
function namesThisServer(host: string | null, bound: string): boolean {
  if (host === null) return false;
  const name = host.replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1")
    .toLowerCase();
  return name === bound.toLowerCase() || name === "localhost" ||
    name === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/** Headers every answer carries. */
const SECURITY_HEADERS = {
  "content-security-policy": DASHBOARD_CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body, null, 2) + "\n", {
    status,
    headers: {
      ...SECURITY_HEADERS,
      "content-type": "application/json; charset=utf-8",
    },
  });
}

/** The same answer without its body, for `HEAD`. */
async function headOf(response: Response): Promise<Response> {
  await response.body?.cancel();
  return new Response(null, {
    status: response.status,
    headers: response.headers,
  });
}

/**
 * Says in one line why the status server could not listen.
 *
 * @param error What `startStatusServer` threw.
 * @param config Where it tried to listen.
 * @returns The line to print.
 */
export function describeListenError(
  error: unknown,
  config: HttpConfig,
): string {
  const code = (error as { code?: string })?.code;
  const reason = code === "EADDRINUSE"
    ? "the port is in use; pick another 'http.listen'"
    : code === "EADDRNOTAVAIL"
    ? "the address is not on this machine; pick another 'http.listen'"
    : (error as Error)?.message ?? String(error);
  return `cannot start the status server on ${config.hostname}:${config.port}: ${reason}`;
}

/**
 * Starts the status server.
 *
 * @param config Where to listen, and the token.
 * @param registry A registry to read instances and leaders from; best on a
 *   connection of its own, so reads never queue behind heartbeats.
 * @param metrics The counters `/metrics` renders.
 * @param self This process's own instance, to show in detail.
 * @returns The running server, once it listens.
 * @throws {Error} With `code` `EADDRINUSE` or `EADDRNOTAVAIL` when it cannot
 *   listen; {@linkcode describeListenError} says so in one line.
 */
export async function startStatusServer(
  config: HttpConfig,
  registry: Registry,
  metrics: RunnerMetrics,
  self?: SelfDetail,
): Promise<StatusServer> {
  const maxStreams = config.maxStreams ?? DEFAULT_MAX_STREAMS;
  const view = new StatusView(registry, {
    onEvent: (type) => metrics.watchEvent(type),
  });
  if (self) view.showSelf(self);
  let streams = 0;
  const closing = new AbortController();

  const authorized = async (request: Request, url: URL) => {
    if (config.token === undefined) return true;
    const header = request.headers.get("authorization") ?? "";
    // A token in the URL opens the page only: URLs end up in logs and
    // histories, so the APIs and the stream take the header alone.
    const given = header.startsWith("Bearer ")
      ? header.slice(7)
      : url.pathname === "/"
      ? url.searchParams.get("token") ?? ""
      : "";
    return given !== "" && await sameSecret(given, config.token);
  };

  const events = (): Response => {
    if (streams >= maxStreams) {
      return json({
        error: `${streams} event ${
          streams === 1 ? "stream is" : "streams are"
        } open, the most this server keeps; try again later`,
      }, 503);
    }
    streams++;
    let unfollow: (() => void) | undefined;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      streams--;
      unfollow?.();
      closing.signal.removeEventListener("abort", close);
    };
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const close = () => {
      end();
      try {
        controller.close();
      } catch { /* closed already */ }
    };
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        controller = c;
        // Every stream gets the same encoded snapshot; a client that lets
        // STREAM_BACKLOG of them pile up unread is dropped, not buffered.
        unfollow = view.follow((snapshot) => {
          if ((controller.desiredSize ?? 0) <= 0) {
            log.info("Dropped a dashboard stream that stopped reading");
            close();
            return;
          }
          controller.enqueue(encodeEvent(snapshot));
        });
      },
      cancel: end,
    }, new CountQueuingStrategy({ highWaterMark: STREAM_BACKLOG }));
    closing.signal.addEventListener("abort", close, { once: true });
    return new Response(body, {
      headers: {
        ...SECURITY_HEADERS,
        "content-type": "text/event-stream",
        "cache-control": "no-store",
      },
    });
  };

  const unparsable = () =>
    json({ error: "the request's Host or path cannot be parsed" }, 400);
  const handle = async (request: Request): Promise<Response> => {
    if (
      config.token === undefined &&
      !namesThisServer(request.headers.get("host"), config.hostname)
    ) {
      return json({
        error: "this server answers only requests addressed to " +
          `'${config.hostname}' or localhost; set 'http.token' to serve others`,
      }, 421);
    }
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      return json(
        { error: "the request's Host or path cannot be parsed" },
        400,
      );
    }
    if (request.method === "HEAD") {
      return await headOf(await answer(request, url, true));
    }
    if (request.method !== "GET") {
      const refused = json({ error: "only GET and HEAD are served" }, 405);
      refused.headers.set("allow", "GET, HEAD");
      return refused;
    }
    return await answer(request, url, false);
  };

  const answer = async (
    request: Request,
    url: URL,
    head: boolean,
  ): Promise<Response> => {
    if (url.pathname !== "/healthz" && !(await authorized(request, url))) {
      return json({ error: "send 'Authorization: Bearer <token>'" }, 401);
    }
    switch (url.pathname) {
      case "/":
        return new Response(DASHBOARD_HTML, {
          headers: {
            ...SECURITY_HEADERS,
            "content-type": "text/html; charset=utf-8",
          },
        });
      case "/favicon.svg":
      case "/favicon.ico":
        return new Response(FAVICON_SVG, {
          headers: {
            ...SECURITY_HEADERS,
            "content-type": "image/svg+xml",
            "cache-control": "max-age=86400",
          },
        });
      case "/events":
        return head
          ? new Response(null, {
            headers: {
              ...SECURITY_HEADERS,
              "content-type": "text/event-stream",
            },
          })
          : events();
      case "/healthz":
        return json({ status: "ok", view: view.state });
      case "/instances": {
        const service = url.searchParams.get("service");
        if (service !== null && !SERVICE_NAME.test(service)) {
          return json({
            error:
              `'service' (${service}) must be 1 to 128 letters, digits, '.', '_' or '-'`,
          }, 400);
        }
        const snapshot = await view.refresh();
        const instances = service === null
          ? snapshot.instances
          : snapshot.instances.filter((i) => i.service === service);
        return snapshot.view === "live" ? json(instances) : json({
          error: snapshot.error,
          since: snapshot.staleSince,
          instances,
        }, 503);
      }
      case "/metrics": {
        const snapshot = await view.refresh();
        return new Response(
          metrics.render(snapshot.instances, {
            up: snapshot.view === "live",
            view: snapshot.view,
            ageSeconds: snapshot.readAt === 0
              ? 0
              : (snapshot.now - snapshot.readAt) / 1000,
            protected: Object.keys(snapshot.protection),
          }),
          {
            headers: {
              ...SECURITY_HEADERS,
              "content-type": "text/plain; version=0.0.4",
            },
          },
        );
      }
      default:
        return json({ error: `no such page: ${url.pathname}` }, 404);
    }
  };
  const server = await serveHttp(config, handle, unparsable);
  view.start();
  log.info("Status server on http://{host}:{port}/", {
    host: config.hostname,
    port: server.port,
  });
  const shutdown = async () => {
    closing.abort();
    view.close();
    await server.close();
  };
  return {
    port: server.port,
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}
