/**
 * The Redis driver's subscriptions: one connection of their own, which
 * resubscribes by itself after a reconnect, and each channel subscribed
 * once however many handlers it has. Pub/Sub drops what is published while
 * a subscriber is away, so listeners hear when messages may have been
 * lost: when the connection closes, and once it is subscribed again.
 *
 * @module
 */

import { closeClient, type IoRedisClient } from "./connect.ts";

/** A subscribed channel: its handlers, and the SUBSCRIBE they wait on. */
interface Channel {
  handlers: Set<(payload: string) => void>;
  subscribed: Promise<unknown>;
}

/** Every handler of the driver's channels, on one subscriber connection. */
export class Subscriptions {
  readonly #connector: () => (() => Promise<IoRedisClient>) | undefined;
  /** Per channel, its handlers and its SUBSCRIBE. */
  readonly #channels = new Map<string, Channel>();
  readonly #lossListeners = new Set<() => void>();
  #subscriber: Promise<IoRedisClient> | undefined;
  /** Whether the connection is up and every channel subscribed. */
  #live = false;
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
      this.#live = true;
      subscriber.on("message", (channel: string, payload: string) => {
        for (const wanted of [...this.#channels.get(channel)?.handlers ?? []]) {
          wanted(payload);
        }
      });
      subscriber.on("close", () => {
        this.#live = false;
        this.#lost();
      });
      // ioredis resubscribes right after "ready"; a PING sent behind those
      // SUBSCRIBEs is answered once they hold.
      subscriber.on(
        "ready",
        () =>
          queueMicrotask(() =>
            subscriber.ping().then(() => {
              if (this.#closed || subscriber.status !== "ready") return;
              this.#live = true;
              this.#lost();
            }, () => {})
          ),
      );
      return subscriber;
    });
    this.#subscriber.catch(() => {
      this.#subscriber = undefined;
      this.#live = false;
    });
    const subscriber = await this.#subscriber;
    let channel = this.#channels.get(name);
    if (!channel) {
      const made: Channel = channel = {
        handlers: new Set(),
        subscribed: subscriber.subscribe(name),
      };
      this.#channels.set(name, made);
      // Refused (NOPERM, say): the next subscribe asks again.
      made.subscribed.catch(() => {
        if (this.#channels.get(name) === made) this.#channels.delete(name);
      });
    }
    const { handlers } = channel;
    // Added before the SUBSCRIBE is answered, so one handler's unsubscribe
    // meanwhile never leaves another's behind.
    const wrapped = (payload: string) => handler(payload);
    handlers.add(wrapped);
    try {
      await channel.subscribed;
    } catch (error) {
      handlers.delete(wrapped);
      throw error;
    }
    const subscribed = channel;
    return async () => {
      handlers.delete(wrapped);
      if (handlers.size === 0 && this.#channels.get(name) === subscribed) {
        this.#channels.delete(name);
        await subscriber.unsubscribe(name).catch(() => {});
      }
    };
  }

  /**
   * Whether messages arrive now: the connection is up and subscribed. While
   * it is not, what is published is lost to this process.
   */
  get live(): boolean {
    return this.#live && !this.#closed;
  }

  /**
   * Calls `listener` whenever messages may have been lost: when the
   * connection closes, and once it is subscribed again after a reconnect.
   *
   * @param listener Called with no arguments.
   * @returns A function that stops the calls.
   */
  onLoss(listener: () => void): () => void {
    this.#lossListeners.add(listener);
    return () => this.#lossListeners.delete(listener);
  }

  #lost(): void {
    for (const listener of [...this.#lossListeners]) listener();
  }

  /**
   * Drops every handler and closes the connection.
   *
   * @returns A promise that resolves once it is closed.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#live = false;
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    this.#channels.clear();
    const client = await subscriber?.catch(() => undefined);
    if (client) await closeClient(client);
  }
}
