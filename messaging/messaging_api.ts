/**
 * What a `Registry` offers to message live instances: broadcast
 * to a service, send to one instance, and receive. The messenger
 * (`messenger.ts`) does the work; the registry delegates to it.
 *
 * @module
 */

import type { StreamOptions } from "../registry_options.ts";
import type { Message } from "./message.ts";

/** A registry's methods for messages. */
export interface MessagingApi {
  /**
   * Sends a message to every instance of a service that is listening.
   *
   * @param service The service.
   * @param data Any JSON value.
   * @returns How many listeners it reached, where the backend can tell.
   * @throws {MessageTooLargeError} When the encoded message is too large.
   *
   * @example
   * ```ts
   * import { Registry } from "@roster/roster";
   *
   * await using registry = new Registry({ service: "api", env: "broadcast-doc" });
   * await registry.broadcast("api", { reload: true });
   * ```
   */
  broadcast(service: string, data: unknown): Promise<number>;

  /**
   * Sends a message to one instance by id.
   *
   * @param id The instance id.
   * @param data Any JSON value.
   * @returns 1 when a listener got it, 0 when none was listening (where the
   *   backend can tell).
   * @throws {MessageTooLargeError} When the encoded message is too large.
   */
  send(id: string, data: unknown): Promise<number>;

  /**
   * Receives the messages broadcast to this instance's service and those
   * sent to it by id, while the registry runs.
   *
   * @param handler Called with each message; one that throws is logged.
   * @returns A function that stops receiving.
   * @throws {RegistryStateError} Before `start()`.
   *
   * @example
   * ```ts
   * import { Registry } from "@roster/roster";
   * import assert from "node:assert/strict";
   *
   * await using registry = new Registry({ service: "api", env: "message-doc" });
   * const me = await registry.start();
   * const got = Promise.withResolvers<unknown>();
   * const stop = await registry.onMessage((message) => got.resolve(message.data));
   * await registry.send(me.id, "hello");
   * assert.equal(await got.promise, "hello");
   * await stop();
   * ```
   */
  onMessage(
    handler: (message: Message) => void,
  ): Promise<() => Promise<void>>;

  /**
   * Receives messages as an async iterable; see {@linkcode Registry.onMessage}.
   *
   * @param options A signal that ends the stream.
   * @returns The messages, as they arrive.
   */
  messages(
    options?: StreamOptions,
  ): AsyncGenerator<Message, void, undefined>;

  /**
   * How many messages `messages()` streams dropped because their consumer
   * fell 10,000 behind (the oldest go first).
   */
  readonly droppedMessages: number;
}
