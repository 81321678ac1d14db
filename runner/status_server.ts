/**
 * The runner's status server: `GET /instances`, `/healthz`, `/metrics`, and
 * a live dashboard at `/`. Off loopback it requires a bearer token, compared
 * in constant time.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Instance, Registry } from "../mod.ts";
import { DASHBOARD_CSP, DASHBOARD_HTML, FAVICON_SVG } from "./dashboard.ts";
import type { HttpConfig } from "./http_config.ts";
import type { RunnerMetrics } from "./metrics.ts";

const log = getLogger(["roster", "http"]);
const encoder = new TextEncoder();

/** How often the dashboard gets a fresh snapshot even when nothing changed. */
const REFRESH_MS = 1_000;

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
 * Starts the status server.
 *
 * @param config Where to listen, and the token.
 * @param registry A registry to read instances and leaders from.
 * @param metrics The counters `/metrics` renders.
 * @returns The running server.
 */
export function startStatusServer(
  config: HttpConfig,
  registry: Registry,
  metrics: RunnerMetrics,
): StatusServer {
  const streams = new Set<ReadableStreamDefaultController<Uint8Array>>();
  const closing = new AbortController();

  const snapshot = async () => {
    const instances = await registry.allInstances();
    const leaders: Record<string, string> = {};
    for (const instance of instances) {
      if (instance.status === "healthy" && !(instance.service in leaders)) {
        leaders[instance.service] = instance.id;
      }
    }
    return {
      env: registry.env,
      now: Date.now(),
      view: registry.viewState ?? "live",
      leaders,
      instances,
    };
  };

  const authorized = async (request: Request, url: URL) => {
    if (config.token === undefined) return true;
    const header = request.headers.get("authorization") ?? "";
    const given = header.startsWith("Bearer ")
      ? header.slice(7)
      : url.searchParams.get("token") ?? "";
    return await sameSecret(given, config.token);
  };

  const events = (): Response => {
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    let timer: ReturnType<typeof setInterval> | undefined;
    let stopWatching: AbortController | undefined;
    const push = async () => {
      try {
        const data = JSON.stringify(await snapshot());
        controller.enqueue(encoder.encode(`data: ${data}\n\n`));
      } catch (error) {
        log.warn("Could not send a dashboard update: {error}", { error });
      }
    };
    const stop = () => {
      clearInterval(timer);
      stopWatching?.abort();
      streams.delete(controller);
    };
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        controller = c;
        streams.add(c);
        push();
        timer = setInterval(push, REFRESH_MS);
        stopWatching = new AbortController();
        // Changes go out at once, not at the next refresh.
        (async () => {
          for await (
            const _ of registry.watch(undefined, {
              signal: stopWatching.signal,
            })
          ) {
            await push();
          }
        })().catch(() => {});
      },
      cancel: stop,
    });
    closing.signal.addEventListener("abort", () => {
      stop();
      try {
        controller.close();
      } catch { /* closed already */ }
    }, { once: true });
    return new Response(body, {
      headers: {
        ...SECURITY_HEADERS,
        "content-type": "text/event-stream",
        "cache-control": "no-store",
      },
    });
  };

  const server = Deno.serve({
    hostname: config.hostname,
    port: config.port,
    signal: closing.signal,
    onListen: () => {},
  }, async (request) => {
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
  });

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
        return json({ status: "ok", view: registry.viewState ?? "live" });
      case "/instances": {
        const service = url.searchParams.get("service");
        let instances: Instance[];
        try {
          instances = service
            ? await registry.allInstances(service)
            : await registry.allInstances();
        } catch (error) {
          return json({ error: (error as Error).message }, 400);
        }
        return json(instances);
      }
      case "/metrics":
        return new Response(metrics.render(await registry.allInstances()), {
          headers: {
            ...SECURITY_HEADERS,
            "content-type": "text/plain; version=0.0.4",
          },
        });
      default:
        return json({ error: `no such page: ${url.pathname}` }, 404);
    }
  };
  log.info("Status server on http://{host}:{port}/", {
    host: config.hostname,
    port: server.addr.port,
  });
  const shutdown = async () => {
    closing.abort();
    await server.finished;
  };
  return {
    port: server.addr.port,
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}
