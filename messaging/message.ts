/**
 * Messages between instances: broadcast to a service, or sent to one
 * instance by id. Delivery is at most once, to whoever listens right now.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";

/** A message as received. */
export interface Message<T = unknown> {
  /** `broadcast` to a whole service, or `direct` to one instance. */
  kind: "broadcast" | "direct";
  /** The sender's instance id, or undefined for a process that only discovers. */
  from: string | undefined;
  /** The service or instance id it was sent to. */
  to: string;
  /** The payload, as sent (through JSON). */
  data: T;
  /** When it was sent, by the sender's clock, in ms. */
  sentAt: number;
}

/** The largest message, encoded, by default: 64 KiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 65_536;

/**
 * A message was larger than the limit.
 *
 * @example
 * ```ts
 * import { MessageTooLargeError } from "@roster/roster";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new MessageTooLargeError(70_000, 65_536).size, 70_000);
 * ```
 */
export class MessageTooLargeError extends Error {
  /** The message's encoded size in bytes. */
  readonly size: number;
  /** The limit in bytes. */
  readonly limit: number;

  /**
   * Creates the error.
   *
   * @param size The encoded size.
   * @param limit The limit.
   */
  constructor(size: number, limit: number) {
    super(
      `Cannot send: the message is ${size} bytes, more than the ${limit} allowed; send a reference to the data instead, or raise 'maxMessageBytes'`,
    );
    this.name = "MessageTooLargeError";
    this.size = size;
    this.limit = limit;
  }
}

const encoder = new TextEncoder();

/**
 * Encodes a message for the wire, enforcing the size limit.
 *
 * @param message The message.
 * @param limit The most bytes allowed.
 * @returns The JSON text.
 * @throws {MessageTooLargeError} When the encoding is too large.
 * @throws {ConfigError} When the data cannot be encoded as JSON.
 */
export function encodeMessage(message: Message, limit: number): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(message);
  } catch (cause) {
    throw new ConfigError(
      `Cannot send: the message data is not JSON (${
        (cause as Error).message
      }); send plain objects, arrays, strings, numbers, booleans or null`,
      { field: "data", cause },
    );
  }
  if (text === undefined || !("data" in JSON.parse(text))) {
    throw new ConfigError(
      "Cannot send: the message data is undefined or a function; send a JSON value",
      { field: "data" },
    );
  }
  const size = encoder.encode(text).length;
  if (size > limit) throw new MessageTooLargeError(size, limit);
  return text;
}

/**
 * Decodes a message from the wire; anything else is dropped.
 *
 * @param text The JSON text.
 * @returns The message, or undefined when the text is not one.
 */
export function decodeMessage(text: string): Message | undefined {
  try {
    const message = JSON.parse(text) as Message;
    if (
      (message.kind === "broadcast" || message.kind === "direct") &&
      typeof message.to === "string" && typeof message.sentAt === "number"
    ) return message;
  } catch {
    // A foreign publisher on our channel: ignore it.
  }
  return undefined;
}
