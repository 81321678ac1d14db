/**
 * How the etcd driver's keys hold registrations and leaders: JSON values,
 * with `seq` and terms made from an epoch and etcd's revisions.
 *
 * @module
 */

import type { IKeyValue } from "etcd3";
import {
  type Instance,
  type InstanceStatus,
  parseInstanceStatus,
} from "../../instance.ts";
import { MIN_LEASE_SECONDS } from "./options.ts";

/** What a registration's key holds. */
export interface Stored {
  service: string;
  owner: string;
  registeredAt: number;
  beatAt: number;
  ttl: number;
  interval: number;
  status: InstanceStatus;
  version: string;
  addr: string;
  hostname: string;
  pid: number;
  meta: Record<string, string>;
  weight?: number;
  /** Why the key was created: `registered` or `reregistered`. */
  why: "registered" | "reregistered";
  /** The epoch it was created under: `seq` is it plus the create revision. */
  epoch?: number;
  /** Its `seq`, where it was put back after etcd dropped it. */
  seq?: number;
}

/** What a leader key holds: the term is `epoch` plus its mod revision. */
export interface TermHolder {
  id: string | null;
  seq: number | null;
  epoch?: number;
}

/** A ttl as an etcd lease: whole seconds, at least two. */
export function leaseSeconds(ttl: number): number {
  return Math.max(MIN_LEASE_SECONDS, Math.ceil(ttl / 1000));
}

/** A leader key's term: its epoch (`legacy` if it kept none) plus its mod revision. */
export function termOf(
  kv: IKeyValue,
  holder: TermHolder,
  legacy: number,
): number {
  return (holder.epoch ?? legacy) + Number(kv.mod_revision);
}

/** A key's JSON value: a registration's or a leader key's; undefined if foreign. */
export function decode<T = Stored>(kv: IKeyValue): T | undefined {
  try {
    return JSON.parse(kv.value.toString()) as T;
  } catch {
    return undefined;
  }
}

/**
 * A key's `seq`: the one it was put back with, or its epoch (`legacy` for a
 * key written before keys kept theirs) plus its create revision.
 */
export function seqOf(kv: IKeyValue, stored: Stored, legacy: number): number {
  return stored.seq ?? (stored.epoch ?? legacy) + Number(kv.create_revision);
}

/** A registration's key as an instance. */
export function instanceOf(
  env: string,
  id: string,
  stored: Stored,
  seq: number,
  beatAt = stored.beatAt,
): Instance {
  return {
    id,
    service: stored.service,
    env,
    version: stored.version,
    addr: stored.addr,
    meta: { ...stored.meta },
    hostname: stored.hostname,
    pid: stored.pid,
    status: parseInstanceStatus(stored.status),
    seq,
    registeredAt: stored.registeredAt,
    heartbeatAt: beatAt,
    expiresAt: beatAt + leaseSeconds(stored.ttl) * 1000,
    heartbeatInterval: stored.interval,
    weight: stored.weight ?? 100,
  };
}
