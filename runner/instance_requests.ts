/**
 * Requests to a running instance, sent as messages by `roster drain ID`
 * and `roster maintenance ID on|off`: what they carry, and how a runner
 * reads them.
 *
 * @module
 */

import type { InstanceStatus } from "../mod.ts";

/** The longest linger or maintenance a request may ask for (a day), in ms. */
const MAX_REQUEST_MS = 86_400_000;

/** What a runner may be asked, as a message carries it. */
export type InstanceRequest =
  | {
    kind: "drain";
    /** How long to stay listed as draining, in ms; the runner's own when absent. */
    linger?: number;
  }
  | {
    kind: "maintenance";
    on: boolean;
    /** How long maintenance lasts, in ms; the library's default when absent. */
    ttl?: number;
  };

function duration(value: unknown, min: number): number | undefined {
  return typeof value === "number" && Number.isFinite(value) &&
      value >= min && value <= MAX_REQUEST_MS
    ? Math.round(value)
    : undefined;
}

/**
 * Reads a message as a request.
 *
 * @param data A message's data.
 * @returns The request, or undefined when the message is something else.
 */
export function readInstanceRequest(
  data: unknown,
): InstanceRequest | undefined {
  if (typeof data !== "object" || data === null) return undefined;
  const { roster, linger, on, ttl } = data as Record<string, unknown>;
  if (roster === "drain") {
    const ms = duration(linger, 0);
    return ms === undefined ? { kind: "drain" } : { kind: "drain", linger: ms };
  }
  if (roster === "maintenance" && typeof on === "boolean") {
    const ms = duration(ttl, 1);
    return ms === undefined
      ? { kind: "maintenance", on }
      : { kind: "maintenance", on, ttl: ms };
  }
  return undefined;
}

/**
 * The message that carries a request.
 *
 * @param request The request.
 * @returns The message's data.
 */
export function messageOf(request: InstanceRequest): Record<string, unknown> {
  const { kind, ...rest } = request;
  return { roster: kind, ...rest };
}

/**
 * The status the backend shows once a request took effect.
 *
 * @param request The request.
 * @returns The status, or undefined for "out of maintenance".
 */
export function statusAfter(
  request: InstanceRequest,
): InstanceStatus | undefined {
  if (request.kind === "drain") return "draining";
  return request.on ? "maintenance" : undefined;
}
