/**
 * The Redis driver's value formats: the json body a registration carries,
 * the packed records and beat slots a listing reads, and change-log entries.
 * See `_scripts.ts` for the key layout.
 *
 * @module
 */

import { logger } from "../../_logger.ts";
import type { Change, ChangeReason, Registration } from "../../driver.ts";
import type { Instance } from "../../instance.ts";
import { SLOT_WIDTH } from "./_scripts.ts";

const log = logger("redis");

/**
 * The fields of a registration that never change, as the json array
 * `[version, addr, hostname, pid, meta]`: positional, so no key names are
 * stored per instance.
 *
 * @param registration The registration.
 * @returns The json text.
 */
export function encodeBody(registration: Registration): string {
  return JSON.stringify([
    registration.version,
    registration.addr,
    registration.hostname,
    registration.pid,
    registration.meta,
  ]);
}

interface Body {
  version: string;
  addr: string;
  hostname: string;
  pid: number;
  meta: Record<string, string>;
}

function decodeBody(text: string): Body {
  const value = JSON.parse(text) as unknown;
  if (!Array.isArray(value) || value.length !== 5) {
    throw new Error("not a registration body");
  }
  const [version, addr, hostname, pid, meta] = value;
  if (typeof meta !== "object" || meta === null || Array.isArray(meta)) {
    throw new Error("missing meta");
  }
  return {
    version: String(version),
    addr: String(addr),
    hostname: String(hostname),
    pid: Number(pid),
    meta: meta as Record<string, string>,
  };
}

function skip(env: string, where: string, reason: unknown): void {
  log.warn(
    "Skipping a corrupt or foreign registry entry in env {env} ({where}): {reason}",
    {
      env,
      where,
      reason: reason instanceof Error ? reason.message : String(reason),
    },
  );
}

/**
 * Adds one service's live instances to `into`, keyed by id: the records
 * whose slot holds their seq and an expiry still ahead. Where a restore left
 * two records of one id, the one with the later expiry wins.
 *
 * @param into Where the instances go.
 * @param env The env.
 * @param service The service.
 * @param packed The service's packed records (`p:S`).
 * @param beats The service's beat slots (`b:S`).
 * @param now Redis's time, in ms.
 */
export function readService(
  into: Map<string, Instance>,
  env: string,
  service: string,
  packed: string,
  beats: string,
  now: number,
): void {
  let start = packed.indexOf("\n") + 1;
  if (start === 0) return;
  while (start < packed.length) {
    let end = packed.indexOf("\n", start);
    if (end < 0) end = packed.length;
    const line = packed.slice(start, end);
    start = end + 1;
    const t1 = line.indexOf("\t");
    const t2 = line.indexOf("\t", t1 + 1);
    const t3 = line.indexOf("\t", t2 + 1);
    const t4 = line.indexOf("\t", t3 + 1);
    const t5 = line.indexOf("\t", t4 + 1);
    if (t5 < 0) {
      skip(env, `service ${service}`, "a record without its fields");
      continue;
    }
    const slot = Number(line.slice(t4 + 1, t5));
    const offset = slot * SLOT_WIDTH;
    const seqText = line.slice(t1 + 1, t2);
    // The slot is the record's only while it holds the record's seq.
    if (
      !Number.isInteger(slot) ||
      Number(beats.slice(offset + 14, offset + 30)) !== Number(seqText)
    ) continue;
    const expiresAt = Number(beats.slice(offset, offset + 13));
    if (!(expiresAt > now)) continue;
    const id = line.slice(0, t1);
    const known = into.get(id);
    if (known && known.expiresAt >= expiresAt) continue;
    const ttl = Number(line.slice(t3 + 1, t4));
    try {
      const body = decodeBody(line.slice(t5 + 1));
      into.set(id, {
        id,
        service,
        env,
        version: body.version,
        addr: body.addr,
        meta: body.meta,
        hostname: body.hostname,
        pid: body.pid,
        status: beats[offset + 13] === "u" ? "unhealthy" : "healthy",
        seq: Number(seqText),
        registeredAt: Number(line.slice(t2 + 1, t3)),
        heartbeatAt: expiresAt - ttl,
        expiresAt,
      });
    } catch (error) {
      skip(env, `service ${service}, id ${id}`, error);
    }
  }
}

const REASONS: Record<string, ChangeReason> = {
  r: "registered",
  R: "reregistered",
  d: "deregistered",
  e: "expired",
  h: "health",
};

/**
 * Parses one change-log entry. A join carries the whole instance; an update
 * and a leave carry what changed and whom, and the reader keeps the rest
 * from the join (see `Change`).
 *
 * - join: `j⇥reason⇥S⇥id⇥seq⇥registeredAt⇥ttl⇥status⇥expiresAt⇥json`
 * - update: `u⇥h⇥S⇥id⇥seq⇥status⇥expiresAt`
 * - leave: `l⇥reason⇥S⇥id⇥seq`
 *
 * @param env The env.
 * @param text The entry's text.
 * @returns The change, or undefined (logged) for a foreign entry.
 */
export function readChange(env: string, text: string): Change | undefined {
  const fields = text.split("\t");
  const [type, reasonCode, service = "", id = "", seqText = ""] = fields;
  const reason = REASONS[reasonCode ?? ""];
  const seq = Number(seqText);
  if (!reason || !service || !id || !Number.isFinite(seq) || seq <= 0) {
    skip(env, "the change log", "an unknown change");
    return undefined;
  }
  const identity = {
    id,
    service,
    env,
    version: "",
    addr: "",
    meta: {},
    hostname: "",
    pid: 0,
    status: "healthy" as const,
    seq,
    registeredAt: 0,
    heartbeatAt: 0,
    expiresAt: 0,
  };
  try {
    if (type === "j" && fields.length >= 10) {
      const [, , , , , registeredAt, ttl, status, expiresAt] = fields;
      const body = decodeBody(fields.slice(9).join("\t"));
      return {
        type: "join",
        reason,
        instance: {
          ...identity,
          ...body,
          status: status === "u" ? "unhealthy" : "healthy",
          registeredAt: Number(registeredAt),
          heartbeatAt: Number(expiresAt) - Number(ttl),
          expiresAt: Number(expiresAt),
        },
      };
    }
    if (type === "u" && fields.length === 7) {
      return {
        type: "update",
        reason,
        instance: {
          ...identity,
          status: fields[5] === "u" ? "unhealthy" : "healthy",
          expiresAt: Number(fields[6]),
        },
      };
    }
    if (type === "l") return { type: "leave", reason, instance: identity };
    throw new Error("an unknown change");
  } catch (error) {
    skip(env, "the change log", error);
    return undefined;
  }
}
