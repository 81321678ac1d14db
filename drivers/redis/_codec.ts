/**
 * The Redis driver's value formats: the json body a registration carries,
 * the packed records and beat slots a listing reads, and change-log entries.
 * See `_scripts.ts` for the key layout.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type {
  Change,
  ChangeReason,
  Registration,
} from "../../contract/driver.ts";
import type { Instance, InstanceStatus } from "../../instance.ts";
import { SLOT_WIDTH } from "./_scripts.ts";
import type { DoubtfulLapse } from "../../contract/settled_listing.ts";

const log = getLogger(["roster", "redis"]);

/**
 * The one character a status takes in a beat slot and the change log. The
 * campaign script counts `h` and `w` as taking work.
 */
export const STATUS_CODES: Readonly<Record<InstanceStatus, string>> = {
  healthy: "h",
  warning: "w",
  unhealthy: "u",
  draining: "d",
  maintenance: "m",
};

const STATUS_OF_CODE = new Map(
  Object.entries(STATUS_CODES).map(([status, code]) =>
    [code, status as InstanceStatus] as const
  ),
);

/** The status a stored character stands for; one unknown takes no work. */
function statusOf(code: string | undefined): InstanceStatus {
  return STATUS_OF_CODE.get(code ?? "") ?? "unhealthy";
}

/**
 * The fields of a registration that never change, as
 * `version⇥addr⇥hostname⇥pid⇥meta⇥interval⇥weight`: positional, so no key names are
 * stored per instance, and cheap to read back. Tabs, newlines and
 * backslashes in the text fields are escaped; meta is json (which never
 * holds a raw tab), `{}` when empty. Bodies written before the interval and
 * weight were kept end earlier, and read back with an interval of 0 and a
 * weight of 100.
 *
 * @param registration The registration.
 * @returns The encoded fields.
 */
export function encodeBody(registration: Registration): string {
  const meta = Object.keys(registration.meta).length
    ? JSON.stringify(registration.meta)
    : "{}";
  return `${escape(registration.version)}\t${escape(registration.addr)}\t${
    escape(registration.hostname)
  }\t${registration.pid}\t${meta}\t${registration.heartbeatInterval}\t${
    registration.weight ?? 100
  }`;
}

function escape(text: string): string {
  return /[\t\n\\]/.test(text)
    ? text.replace(
      /[\t\n\\]/g,
      (c) => c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\\\",
    )
    : text;
}

function unescape(text: string): string {
  return text.includes("\\")
    ? text.replace(
      /\\(.)/g,
      (_, c: string) => c === "t" ? "\t" : c === "n" ? "\n" : c,
    )
    : text;
}

interface Body {
  version: string;
  addr: string;
  hostname: string;
  pid: number;
  meta: Record<string, string>;
  heartbeatInterval: number;
  weight: number;
}

function decodeBody(text: string): Body {
  const t1 = text.indexOf("\t");
  const t2 = text.indexOf("\t", t1 + 1);
  const t3 = text.indexOf("\t", t2 + 1);
  const t4 = text.indexOf("\t", t3 + 1);
  if (t1 < 0 || t2 < 0 || t3 < 0 || t4 < 0) {
    throw new Error("not a registration body");
  }
  const t5 = text.indexOf("\t", t4 + 1);
  const metaText = t5 < 0 ? text.slice(t4 + 1) : text.slice(t4 + 1, t5);
  const t6 = t5 < 0 ? -1 : text.indexOf("\t", t5 + 1);
  const heartbeatInterval = t5 < 0
    ? 0
    : Number(text.slice(t5 + 1, t6 < 0 ? undefined : t6)) || 0;
  const weightText = t6 < 0 ? "" : text.slice(t6 + 1);
  const weight = weightText === "" ? 100 : Number(weightText);
  const meta = metaText === "{}" ? {} : JSON.parse(metaText) as unknown;
  if (typeof meta !== "object" || meta === null || Array.isArray(meta)) {
    throw new Error("missing meta");
  }
  const pid = Number(text.slice(t3 + 1, t4));
  if (!Number.isFinite(pid)) throw new Error("no pid");
  return {
    version: unescape(text.slice(0, t1)),
    addr: unescape(text.slice(t1 + 1, t2)),
    hostname: unescape(text.slice(t2 + 1, t3)),
    pid,
    meta: meta as Record<string, string>,
    heartbeatInterval,
    weight: Number.isInteger(weight) ? weight : 100,
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
 * @returns Its lapsed entries no beat of any of its instances reached
 *   Redis after, from half a ttl before the lapse on: lapses that writes
 *   paused (`CLIENT PAUSE WRITE`) or a lagging replica explain as well as
 *   crashes do. (Once purged, crashed entries count no more.)
 */
export function readService(
  into: Map<string, Instance>,
  env: string,
  service: string,
  packed: string,
  beats: string,
  now: number,
): DoubtfulLapse[] {
  let start = packed.indexOf("\n") + 1;
  if (start === 0) return [];
  let freshest = -Infinity;
  const lapses: { halfway: number; line: number; end: number; ttl: number }[] =
    [];
  while (start < packed.length) {
    let end = packed.indexOf("\n", start);
    if (end < 0) end = packed.length;
    const line = start;
    start = end + 1;
    const t1 = packed.indexOf("\t", line);
    const t2 = packed.indexOf("\t", t1 + 1);
    const t3 = packed.indexOf("\t", t2 + 1);
    const t4 = packed.indexOf("\t", t3 + 1);
    const t5 = packed.indexOf("\t", t4 + 1);
    if (t1 < 0 || t5 < 0 || t5 > end) {
      skip(env, `service ${service}`, "a record without its fields");
      continue;
    }
    const offset = wholeNumber(packed, t4 + 1, t5) * SLOT_WIDTH;
    const seq = wholeNumber(packed, t1 + 1, t2);
    // The slot is the record's only while it holds the record's seq.
    if (
      !(seq > 0) || !(offset + SLOT_WIDTH <= beats.length) ||
      seq !== Number(beats.slice(offset + 14, offset + 30))
    ) continue;
    const expiresAt = Number(beats.slice(offset, offset + 13));
    const ttl = Number(packed.slice(t3 + 1, t4));
    if (expiresAt - ttl > freshest) freshest = expiresAt - ttl;
    if (!(expiresAt > now)) {
      lapses.push({ halfway: expiresAt - ttl / 2, line, end, ttl });
      continue;
    }
    const id = packed.slice(line, t1);
    const known = into.get(id);
    if (known && known.expiresAt >= expiresAt) continue;
    try {
      const body = decodeBody(packed.slice(t5 + 1, end));
      into.set(id, {
        id,
        service,
        env,
        version: body.version,
        addr: body.addr,
        meta: body.meta,
        hostname: body.hostname,
        pid: body.pid,
        status: statusOf(beats[offset + 13]),
        seq,
        registeredAt: Number(packed.slice(t2 + 1, t3)),
        heartbeatAt: expiresAt - ttl,
        expiresAt,
        heartbeatInterval: body.heartbeatInterval,
        weight: body.weight,
      });
    } catch (error) {
      skip(env, `service ${service}, id ${id}`, error);
    }
  }
  return lapses.filter((lapse) => lapse.halfway > freshest).map(
    ({ line, end, ttl }) => {
      const t1 = packed.indexOf("\t", line);
      let heartbeatInterval = ttl / 3;
      try {
        const t5 = nthTab(packed, t1, 4);
        heartbeatInterval = decodeBody(packed.slice(t5 + 1, end))
          .heartbeatInterval || heartbeatInterval;
      } catch {
        // A corrupt body: the usual interval for its ttl.
      }
      return { id: packed.slice(line, t1), heartbeatInterval };
    },
  );
}

/**
 * The whole number the text at [from, to) spells in decimal digits, as
 * records write it (no sign, no leading zero, at most 16 digits); NaN for
 * anything else, or one past the safe integers. The characters are checked
 * first, since `Number` also reads spaces, signs, fractions, hex and
 * exponents (`1e2`, `12e03`), some of them as long as the number they
 * spell; the value is then read from a slice, faster in V8 than adding up
 * the digits.
 */
function wholeNumber(text: string, from: number, to: number): number {
  const length = to - from;
  if (length < 1 || length > 16) return NaN;
  if (text.charCodeAt(from) === 48) return length === 1 ? 0 : NaN;
  for (let i = from; i < to; i++) {
    const code = text.charCodeAt(i);
    if (code < 48 || code > 57) return NaN;
  }
  const value = Number(text.slice(from, to));
  return Number.isSafeInteger(value) ? value : NaN;
}

/** The index of the `n`th tab after the one at `from`. */
function nthTab(text: string, from: number, n: number): number {
  let at = from;
  for (let i = 0; i < n; i++) at = text.indexOf("\t", at + 1);
  return at;
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
  const seq = wholeNumber(seqText, 0, seqText.length);
  if (!reason || !service || !id || !(seq > 0)) {
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
    heartbeatInterval: 0,
    weight: 100,
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
          status: statusOf(status),
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
          status: statusOf(fields[5]),
          expiresAt: Number(fields[6]),
        },
      };
    }
    if (type === "l") {
      // An expiry carries the lapsed lease's end (older records do not).
      const expiresAt = Number(fields[5] ?? 0);
      return {
        type: "leave",
        reason,
        instance: expiresAt > 0 ? { ...identity, expiresAt } : identity,
      };
    }
    throw new Error("an unknown change");
  } catch (error) {
    skip(env, "the change log", error);
    return undefined;
  }
}
