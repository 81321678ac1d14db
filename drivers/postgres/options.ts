/**
 * The PostgreSQL driver's options, and the pool it runs on.
 *
 * @module
 */

// @ts-types="@types/pg"
import type pg from "pg";

/** A node-postgres pool, or anything with its `connect()` and `query()`. */
export type PostgresPool = pg.Pool;

/** Options for {@linkcode PostgresDriver}. */
export interface PostgresDriverOptions {
  /** The schema the tables live in. Default `roster`. */
  schema?: string;
}

/** Options for {@linkcode PostgresDriver.connect}. */
export interface PostgresConnectOptions extends PostgresDriverOptions {
  /** A connection URL, such as `postgres://user:secret@host:5432/db`. */
  url?: string;
  /** The most connections to open. Default 4. */
  max?: number;
  /** How long a connection attempt may take, in ms. Default 5,000. */
  connectTimeout?: number;
  /**
   * How long one query may take before the client gives up on it, in ms
   * (node-postgres's `query_timeout`). Default 5,000. A heartbeat that
   * times out is retried, and counts as evidence of an outage.
   */
  queryTimeout?: number;
}
