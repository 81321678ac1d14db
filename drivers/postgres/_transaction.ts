/**
 * A transaction on one pooled connection, which a failure does not put
 * back in the pool.
 *
 * @module
 */

import type { Queryable } from "./_codec.ts";
import type { PostgresPool } from "./options.ts";

/**
 * Runs `body` in a transaction on one pooled connection: committed when it
 * returns, rolled back when it throws.
 *
 * @param pool The pool.
 * @param body The transaction's work.
 * @param options `begin`: the statement that opens it (an isolation level).
 * @returns What `body` returned.
 */
export async function transaction<T>(
  pool: PostgresPool,
  body: (db: Queryable) => Promise<T>,
  options: { begin?: string } = {},
): Promise<T> {
  const client = await pool.connect();
  // A connection that dies mid-transaction also emits 'error'; the query
  // rejects with it already, and an unheard 'error' would end the process.
  let broken: Error | undefined;
  const onError = (error: Error) => broken = error;
  client.on("error", onError);
  try {
    await client.query(options.begin ?? "begin");
    const result = await body(client);
    await client.query("commit");
    return result;
  } catch (error) {
    await client.query("rollback").catch((cause: Error) => broken = cause);
    throw error;
  } finally {
    client.off("error", onError);
    // A connection that failed is not put back.
    client.release(broken);
  }
}
