/**
 * A transaction commits what its body did, rolls it back when the body
 * throws, and never puts a connection that broke back in the pool.
 */

import assert from "node:assert/strict";
// @ts-types="@types/pg"
import pg from "pg";
import { transaction } from "../../../drivers/postgres/_transaction.ts";
import { PostgresServer, postgresTest } from "../../_postgres_server.ts";

Deno.test(postgresTest(
  "postgres transaction: committed on return, rolled back on throw, a broken connection dropped",
  async () => {
    await using server = await PostgresServer.start();
    const pool = new pg.Pool({ connectionString: server.url, max: 2 });
    pool.on("error", () => {});
    try {
      await pool.query("create table t (n int)");
      assert.equal(
        await transaction(pool, async (db) => {
          await db.query("insert into t values (1)");
          return "done";
        }),
        "done",
      );
      await assert.rejects(
        transaction(pool, async (db) => {
          await db.query("insert into t values (2)");
          throw new Error("the body failed");
        }),
        /the body failed/,
      );
      const { rows } = await pool.query("select n from t order by n");
      assert.deepEqual(rows, [{ n: 1 }]);

      // The connection is killed under the transaction: it fails, and the
      // pool opens a new one rather than hand out the dead one.
      await assert.rejects(
        transaction(pool, async (db) => {
          const { rows: [me] } = await db.query(
            "select pg_backend_pid() as pid",
          );
          await pool.query("select pg_terminate_backend($1)", [me.pid]);
          await db.query("insert into t values (3)");
        }),
      );
      const { rows: after } = await pool.query(
        "select count(*)::int as n from t",
      );
      assert.deepEqual(after, [{ n: 1 }]);
      const readOnly = transaction(
        pool,
        (db) => db.query("insert into t values (4)"),
        { begin: "begin read only" },
      );
      await assert.rejects(readOnly, /read-only transaction/);
    } finally {
      await pool.end();
    }
  },
));
