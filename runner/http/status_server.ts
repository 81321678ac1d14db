/**
 * The runner's status server: `GET /instances`, `/history`, `/healthz`, `/metrics`,
 * Prometheus service discovery at `/sd`, and a live dashboard at `/`. Off loopback it requires a bearer token, compared
 * in constant time.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Registry } from "../../mod.ts";
import { DASHBOARD_HTML, FAVICON_SVG } from "./dashboard.ts";
import { EventStreams } from "./event_streams.ts";
import { authorized, namesThisServer } from "./_request_guard.ts";
import { headOf, json, SECURITY_HEADERS } from "./_responses.ts";
import type { HttpConfig } from "../config/http_config.ts";
import { serveHttp } from "./_http_server.ts";
import { targetGroups } from "./service_discovery.ts";
import type { RunnerMetrics } from "./metrics.ts";
import {
  type SelfDetail,
  type StatusInstance,
  type StatusSnapshot,
  StatusView,
} from "./status_view.ts";

const log = getLogger(["roster", "http"]);
/** The default bound on open event streams. */
export const DEFAULT_MAX_STREAMS = 100;

const SERVICE_NAME = /^[A-Za-z0-9._-]{1,128}$/;
/**
 * What anyone may fetch without the token: health for load balancers, the
 * icon, and the dashboard page, which holds no data: it asks for the token
 * and sends it on the stream it reads.
 */
const OPEN_PATHS = new Set(["/healthz", "/favicon.svg", "/favicon.ico", "/"]);

/** A running status server. */
export interface StatusServer extends AsyncDisposable {
  /** The port it listens on. */
  port: number;
  /** Stops it, ending every open event stream. */
  shutdown(): Promise<void>;
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
  const view = new StatusView(registry, {
    onEvent: (type) => metrics.watchEvent(type),
  });
  if (self) view.showSelf(self);
  const pages: Pages = {
    config,
    view,
    metrics,
    streams: new EventStreams(
      view,
      config.maxStreams ?? DEFAULT_MAX_STREAMS,
      config.streamLifetimeMs,
    ),
  };
  const server = await serveHttp(
    config,
    (request) => handle(pages, request),
    () => json({ error: "the request's Host or path cannot be parsed" }, 400),
  );
  view.start();
  log.info("Status server on http://{host}:{port}/", {
    host: config.hostname,
    port: server.port,
  });
  const shutdown = async () => {
    pages.streams.closeAll();
    view.close();
    await server.close();
  };
  return {
    port: server.port,
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}

/** What the pages answer from. */
interface Pages {
  config: HttpConfig;
  view: StatusView;
  metrics: RunnerMetrics;
  streams: EventStreams;
}

/** Checks where a request is addressed and its method, then answers it. */
async function handle(pages: Pages, request: Request): Promise<Response> {
  const { config } = pages;
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
    return json({ error: "the request's Host or path cannot be parsed" }, 400);
  }
  if (request.method === "HEAD") {
    return await headOf(await answer(pages, request, url, true));
  }
  if (request.method !== "GET") {
    const refused = json({ error: "only GET and HEAD are served" }, 405);
    refused.headers.set("allow", "GET, HEAD");
    return refused;
  }
  return await answer(pages, request, url, false);
}

/** The page a path names, once the request is authorized. */
async function answer(
  pages: Pages,
  request: Request,
  url: URL,
  head: boolean,
): Promise<Response> {
  if (
    !OPEN_PATHS.has(url.pathname) &&
    !(await authorized(pages.config, request, url))
  ) {
    return json({ error: "send 'Authorization: Bearer <token>'" }, 401);
  }
  switch (url.pathname) {
    case "/":
      return page(DASHBOARD_HTML, "text/html; charset=utf-8");
    case "/favicon.svg":
    case "/favicon.ico":
      return page(FAVICON_SVG, "image/svg+xml", "max-age=86400");
    case "/events":
      return head ? page(null, "text/event-stream") : pages.streams.open();
    case "/healthz":
      return json({ status: "ok", view: pages.view.state });
    case "/history":
      return json(pages.view.history());
    case "/instances":
      return await instancesPage(pages.view, url);
    case "/metrics":
      return await metricsPage(pages.view, pages.metrics);
    case "/sd":
      return await serviceDiscoveryPage(pages.view, url);
    default:
      return json({ error: `no such page: ${url.pathname}` }, 404);
  }
}

function page(
  body: string | null,
  type: string,
  cache?: string,
): Response {
  return new Response(body, {
    headers: {
      ...SECURITY_HEADERS,
      "content-type": type,
      ...(cache === undefined ? {} : { "cache-control": cache }),
    },
  });
}

/**
 * The view, and its instances of the service the query names (all without
 * one); a 400 for a query that names no valid service.
 */
async function serviceInstances(
  view: StatusView,
  url: URL,
): Promise<
  { snapshot: StatusSnapshot; instances: StatusInstance[] } | Response
> {
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
  return { snapshot, instances };
}

/** `GET /instances[?service=S]`: 503 with the last known ones when stale. */
async function instancesPage(view: StatusView, url: URL): Promise<Response> {
  const read = await serviceInstances(view, url);
  if (read instanceof Response) return read;
  const { snapshot, instances } = read;
  return snapshot.view === "live" ? json(instances) : json({
    error: snapshot.error,
    since: snapshot.staleSince,
    instances,
  }, 503);
}

/**
 * `GET /sd[?service=S]`: Prometheus HTTP service discovery. Always 200
 * with JSON, as Prometheus asks of an SD endpoint: during an outage the
 * last known targets, labelled `__meta_roster_stale="true"`.
 */
async function serviceDiscoveryPage(
  view: StatusView,
  url: URL,
): Promise<Response> {
  const read = await serviceInstances(view, url);
  if (read instanceof Response) return read;
  return json(targetGroups(read.instances, {
    stale: read.snapshot.view !== "live",
  }));
}

/** `GET /metrics`: always answers, with `roster_up 0` during an outage. */
async function metricsPage(
  view: StatusView,
  metrics: RunnerMetrics,
): Promise<Response> {
  const snapshot = await view.refresh();
  return page(
    metrics.render(snapshot.instances, {
      up: snapshot.view === "live",
      view: snapshot.view,
      ageSeconds: snapshot.readAt === 0
        ? 0
        : (snapshot.now - snapshot.readAt) / 1000,
      protected: Object.keys(snapshot.protection),
    }),
    "text/plain; version=0.0.4",
  );
}
