/**
 * The dashboard's event streams (`GET /events`): one server-sent event per
 * snapshot, encoded once for every stream, a bound on how many are open,
 * and a stream that stops reading is dropped, never buffered.
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
  readonly #closing = new AbortController();
  #open = 0;

  /**
   * Creates the streams of a view.
   *
   * @param view The view whose snapshots they carry.
   * @param max How many may be open at once.
   */
  constructor(view: StatusView, max: number) {
    this.#view = view;
    this.#max = max;
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
      this.#closing.signal.removeEventListener("abort", close);
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
