/**
 * How the PostgreSQL driver reads rows: a row as an instance, and a query's
 * rows with a timeout of its own.
 *
 * @module
 */

// @ts-types="@types/pg"
import type pg from "pg";
import { type Instance, parseInstanceStatus } from "../../instance.ts";

/** A row as node-postgres returns it. */
export type Row = Record<string, unknown>;

/** What runs a query: the pool, or one of its clients. */
export type Queryable = Pick<pg.PoolClient, "query">;

/** The database's clock in ms, as SQL. */
export const NOW_MS = "(extract(epoch from clock_timestamp()) * 1000)::int8";

/**
 * A row of `instances` as an instance.
 *
 * @param row The row.
 * @param env Its env.
 * @returns The instance.
 */
export function instanceOfRow(row: Row, env: string): Instance {
  return {
    id: String(row.id),
    service: String(row.service),
    env,
    version: String(row.version),
    addr: String(row.addr),
    meta: (row.meta ?? {}) as Record<string, string>,
    hostname: String(row.hostname),
    pid: Number(row.pid),
    status: parseInstanceStatus(row.status),
    seq: Number(row.seq),
    registeredAt: Number(row.registered_at),
    heartbeatAt: Number(row.heartbeat_at),
    expiresAt: Number(row.expires_at),
    heartbeatInterval: Number(row.heartbeat_interval),
    weight: row.weight == null ? 100 : Number(row.weight),
  };
}

/**
 * Runs a query and returns its rows.
 *
 * @param db The pool or a client.
 * @param text The SQL.
 * @param values Its parameters.
 * @param timeoutMs How long it may take, when not the pool's default.
 * @returns The rows.
 */
export async function rows(
  db: Queryable,
  text: string,
  values: unknown[] = [],
  timeoutMs?: number,
): Promise<Row[]> {
  const query = timeoutMs === undefined
    ? db.query(text, values)
    : db.query({ text, values, query_timeout: timeoutMs } as pg.QueryConfig);
  return (await query).rows as Row[];
}
