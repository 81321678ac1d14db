/**
 * The Redis driver's subscriptions: one connection of their own, which
 * resubscribes by itself after a reconnect, and each channel subscribed
 * once however many handlers it has.
 *
 * @module
 */

import { closeClient, type IoRedisClient } from "./connect.ts";

/** Every handler of the driver's channels, on one subscriber connection. */
export class Subscriptions {
  readonly #connector: () => (() => Promise<IoRedisClient>) | undefined;
  readonly #handlers = new Map<string, Set<(payload: string) => void>>();
  #subscriber: Promise<IoRedisClient> | undefined;
  #closed = false;

  /**
   * @param connector Opens the subscriber connection, when the client can.
   */
  constructor(connector: () => (() => Promise<IoRedisClient>) | undefined) {
    this.#connector = connector;
  }

  /**
   * Calls `handler` with each message on a channel.
   *
   * @param name The channel's full name.
   * @param handler Called with each payload.
   * @returns A function that unsubscribes.
   * @throws {Error} When closed, or when the client cannot make another connection.
   */
  async subscribe(
    name: string,
    handler: (payload: string) => void,
  ): Promise<() => Promise<void>> {
    const connect = this.#connector();
    if (this.#closed) throw new Error("Cannot subscribe: the driver is closed");
    if (!connect) {
      throw new Error(
        "Cannot subscribe: the Redis client given to RedisDriver has no duplicate(); pass an ioredis client",
      );
    }
    this.#subscriber ??= connect().then((subscriber) => {
      subscriber.on("message", (channel: string, payload: string) => {
        for (const wanted of [...this.#handlers.get(channel) ?? []]) {
          wanted(payload);
        }
      });
      return subscriber;
    });
    this.#subscriber.catch(() => this.#subscriber = undefined);
    const subscriber = await this.#subscriber;
    let handlers = this.#handlers.get(name);
    if (!handlers) {
      this.#handlers.set(name, handlers = new Set());
      await subscriber.subscribe(name);
    }
    const wrapped = (payload: string) => handler(payload);
    handlers.add(wrapped);
    return async () => {
      handlers.delete(wrapped);
      if (handlers.size === 0 && this.#handlers.get(name) === handlers) {
        this.#handlers.delete(name);
        await subscriber.unsubscribe(name).catch(() => {});
      }
    };
  }

  /**
   * Drops every handler and closes the connection.
   *
   * @returns A promise that resolves once it is closed.
   */
  async close(): Promise<void> {
    this.#closed = true;
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    this.#handlers.clear();
    const client = await subscriber?.catch(() => undefined);
    if (client) await closeClient(client);
  }
}
