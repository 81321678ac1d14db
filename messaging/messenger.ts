/**
 * Messaging between instances: broadcast to a service, send to one
 * instance, receive as callbacks or as a stream. Delivery is at most once;
 * a backend without pub/sub (an optional driver capability) refuses.
 *
 * @module
 */

import { errorMessage, logger } from "../_logger.ts";
import { Wakeup } from "../_wakeup.ts";
import type { Clock } from "../clock.ts";
import type { Driver } from "../contract/driver.ts";
import { RegistryStateError } from "../errors.ts";
import { validateName } from "../instance.ts";
import { decodeMessage, encodeMessage, type Message } from "./message.ts";

const log = logger("messages");

/**
 * A `messages()` stream whose consumer falls this far behind drops its
 * oldest queued messages, so memory stays bounded; `dropped` counts them.
 */
export const MAX_QUEUED_MESSAGES = 10_000;

/** What a messenger needs of its registry. */
export interface MessengerSession {
  /** The backend. */
  readonly driver: Driver;
  /** The env messages stay in. */
  readonly env: string;
  /** Stamps `sentAt`. */
  readonly clock: Clock;
  /** The largest encoded message, in bytes. */
  readonly maxMessageBytes: number;
  /** This instance's id; undefined in a registry that only discovers. */
  readonly id: string | undefined;
  /** This instance's id and service while it runs; undefined otherwise. */
  self(): { id: string; service: string } | undefined;
  /** Where the registry is in its life, for errors. */
  state(): string;
}

/** Sends and receives the messages of one registry. */
export class Messenger {
  readonly #session: MessengerSession;
  readonly #subscriptions = new Set<() => Promise<void>>();
  readonly #closeListeners = new Set<() => void>();
  #closed = false;
  #dropped = 0;

  /**
   * Creates a messenger for a registry.
   *
   * @param session What it needs of the registry.
   */
  constructor(session: MessengerSession) {
    this.#session = session;
  }

  /** How many messages `messages()` streams dropped because their consumer fell behind. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Sends a message to every instance of a service that is listening.
   *
   * @param service The service.
   * @param data Any JSON value.
   * @returns How many listeners it reached, where the backend can tell.
   */
  async broadcast(service: string, data: unknown): Promise<number> {
    validateName("service", service);
    return await this.#publish(
      `service:${service}`,
      "broadcast",
      service,
      data,
    );
  }

  /**
   * Sends a message to one instance by id.
   *
   * @param id The instance id.
   * @param data Any JSON value.
   * @returns 1 when a listener got it, 0 when none was listening.
   */
  async send(id: string, data: unknown): Promise<number> {
    validateName("id", id);
    return await this.#publish(`instance:${id}`, "direct", id, data);
  }

  /**
   * Receives the messages broadcast to this instance's service and those
   * sent to it by id.
   *
   * @param handler Called with each message; one that throws is logged.
   * @returns A function that stops receiving.
   */
  async onMessage(
    handler: (message: Message) => void,
  ): Promise<() => Promise<void>> {
    const self = this.#session.self();
    if (!self || this.#closed) {
      throw new RegistryStateError(
        `Cannot receive messages: the registry is ${this.#session.state()}; call start() first`,
      );
    }
    const { driver, env } = this.#session;
    const subscribe = this.#capable("receive").subscribe!.bind(driver);
    const deliver = (text: string) => {
      const message = decodeMessage(text);
      if (!message) return;
      try {
        handler(message);
      } catch (error) {
        log.error("A message handler threw: {error}", {
          error: errorMessage(error),
        });
      }
    };
    const unsubscribes = await Promise.all([
      subscribe(env, `service:${self.service}`, deliver),
      subscribe(env, `instance:${self.id}`, deliver),
    ]);
    const stop = async () => {
      if (!this.#subscriptions.delete(stop)) return;
      for (const unsubscribe of unsubscribes) await unsubscribe();
    };
    this.#subscriptions.add(stop);
    return stop;
  }

  /**
   * Receives messages as an async iterable. A consumer that falls
   * {@linkcode MAX_QUEUED_MESSAGES} behind loses the oldest queued ones
   * (counted in `dropped`, logged once per overflow), never memory.
   *
   * @param options A signal that ends the stream.
   * @returns The messages, as they arrive.
   */
  async *messages(
    options: { signal?: AbortSignal } = {},
  ): AsyncGenerator<Message, void, undefined> {
    const queue: Message[] = [];
    const wakeup = new Wakeup();
    let overflowing = false;
    const stop = await this.onMessage((message) => {
      if (queue.length >= MAX_QUEUED_MESSAGES) {
        queue.shift();
        this.#dropped++;
        if (!overflowing) {
          overflowing = true;
          log.warn(
            "A messages() consumer fell {max} messages behind; dropping the oldest",
            { max: MAX_QUEUED_MESSAGES },
          );
        }
      }
      queue.push(message);
      wakeup.wake();
    });
    const { signal } = options;
    signal?.addEventListener("abort", wakeup.wake);
    const offClose = this.#onClose(wakeup.wake);
    try {
      while (!signal?.aborted && !this.#closed) {
        const next = queue.shift();
        if (next) {
          if (queue.length === 0) overflowing = false;
          yield next;
          continue;
        }
        await wakeup.wait();
      }
    } finally {
      signal?.removeEventListener("abort", wakeup.wake);
      offClose();
      await stop();
    }
  }

  /**
   * Stops every subscription and ends every stream.
   *
   * @returns A promise that resolves once unsubscribed.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const wake of [...this.#closeListeners]) wake();
    for (const unsubscribe of [...this.#subscriptions]) {
      await unsubscribe().catch(() => {});
    }
  }

  #onClose(listener: () => void): () => void {
    this.#closeListeners.add(listener);
    return () => this.#closeListeners.delete(listener);
  }

  #publish(
    channel: string,
    kind: Message["kind"],
    to: string,
    data: unknown,
  ): Promise<number> {
    const { env, clock, maxMessageBytes } = this.#session;
    const driver = this.#capable("send");
    const text = encodeMessage(
      { kind, from: this.#session.id, to, data, sentAt: clock.now() },
      maxMessageBytes,
    );
    return driver.publish!(env, channel, text);
  }

  /** The driver, if it carries messages; otherwise a clear error. */
  #capable(what: "send" | "receive"): Driver {
    const { driver } = this.#session;
    if (!driver.publish || !driver.subscribe) {
      throw new RegistryStateError(
        `Cannot ${what} messages: the ${driver.name} driver has no pub/sub; use a backend that has it, such as Redis`,
      );
    }
    return driver;
  }
}
