/**
 * The dashboard's event streams (`GET /events`): one server-sent event per
 * snapshot, encoded once for every stream, a bound on how many are open,
 * and a stream that stops reading is dropped, never buffered. Every stream
 * ends after a lifetime (about 30 s), and the page opens another at once:
 * a client that stopped reading (a frozen tab, a stuck proxy) gives up its
 * place within it, even while the kernel's buffers still swallow what it
 * does not read, and its connection goes once it has not drained for 30 s.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { json, SECURITY_HEADERS } from "./_responses.ts";
import type { StatusSnapshot, StatusView } from "./status_view.ts";

const log = getLogger(["roster", "http"]);
const encoder = new TextEncoder();

/** How many snapshots a stream may leave unread before it is dropped. */
const STREAM_BACKLOG = 8;
/** How long one stream lasts, in ms, before the page opens another. */
export const STREAM_LIFETIME_MS = 30_000;

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

/** The open event streams of one status server. */
export class EventStreams {
  readonly #view: StatusView;
  readonly #max: number;
  readonly #lifetimeMs: number;
  readonly #closing = new AbortController();
  #open = 0;

  /**
   * Creates the streams of a view.
   *
   * @param view The view whose snapshots they carry.
   * @param max How many may be open at once.
   * @param lifetimeMs How long each lasts, in ms.
   */
  constructor(view: StatusView, max: number, lifetimeMs = STREAM_LIFETIME_MS) {
    this.#view = view;
    this.#max = max;
    this.#lifetimeMs = lifetimeMs;
  }

  /**
   * Opens a stream, or answers 503 when too many are open.
   *
   * @returns The response.
   */
  open(): Response {
    if (this.#open >= this.#max) {
      return json({
        error: `${this.#open} event ${
          this.#open === 1 ? "stream is" : "streams are"
        } open, the most this server keeps; try again later`,
      }, 503);
    }
    this.#open++;
    const view = this.#view;
    let unfollow: (() => void) | undefined;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      this.#open--;
      unfollow?.();
      clearTimeout(lifetime);
      this.#closing.signal.removeEventListener("abort", close);
    };
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const close = () => {
      end();
      try {
        controller.close();
      } catch { /* closed already */ }
    };
    // An error, not an end: the server lets go of the connection at once
    // rather than wait for the client to read what is queued.
    const drop = (reason: string) => {
      log.info("Dropped a dashboard stream: {reason}", { reason });
      end();
      try {
        controller.error(new Error(reason));
      } catch { /* closed already */ }
    };
    // A clean end: what is queued is still sent, and the page opens another
    // stream. Spread by a tenth, so streams opened together renew apart.
    const lifetime = setTimeout(
      close,
      this.#lifetimeMs * (0.9 + Math.random() * 0.2),
    );
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        controller = c;
        // Every stream gets the same encoded snapshot; a client that lets
        // STREAM_BACKLOG of them pile up unread is dropped, not buffered.
        unfollow = view.follow((snapshot) => {
          if ((controller.desiredSize ?? 0) <= 0) {
            drop("it stopped reading");
            return;
          }
          controller.enqueue(encodeEvent(snapshot));
        });
      },
      cancel: end,
    }, new CountQueuingStrategy({ highWaterMark: STREAM_BACKLOG }));
    this.#closing.signal.addEventListener("abort", close, { once: true });
    return new Response(body, {
      headers: {
        ...SECURITY_HEADERS,
        "content-type": "text/event-stream",
        "cache-control": "no-store",
      },
    });
  }

  /** Ends every open stream. */
  closeAll(): void {
    this.#closing.abort();
  }
}
