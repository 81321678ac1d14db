import { logger } from "./_logger.ts";

const log = logger("events");

/** A listener for one event type. */
export type Listener<T> = (event: T) => void;

/**
 * A tiny typed emitter. A listener that throws is logged and skipped, so an
 * application's handler can never break the heartbeat loop that emits.
 */
export class EventEmitter<Events extends object> {
  #listeners = new Map<keyof Events, Set<Listener<never>>>();

  on<K extends keyof Events>(
    type: K,
    listener: Listener<Events[K]>,
  ): () => void {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, set = new Set());
    set.add(listener as Listener<never>);
    return () => this.off(type, listener);
  }

  off<K extends keyof Events>(type: K, listener: Listener<Events[K]>): void {
    this.#listeners.get(type)?.delete(listener as Listener<never>);
  }

  emit<K extends keyof Events>(type: K, event: Events[K]): void {
    const set = this.#listeners.get(type);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<Events[K]>)(event);
      } catch (error) {
        log.error("A '{type}' listener threw: {error}", {
          type: String(type),
          error,
        });
      }
    }
  }
}
