/**
 * The one LISTEN connection: a change notification wakes that env's
 * readers only, a message reaches its channel's handlers only, and a
 * connection that drops wakes every reader and is opened again for the
 * subscribers.
 */

import assert from "node:assert/strict";
// @ts-types="@types/pg"
import pg from "pg";
import { NotificationListener } from "../../../drivers/postgres/_notification_listener.ts";
import { eventually } from "../../discovery/_discovery_suite.ts";
import { PostgresServer, postgresTest } from "../../_postgres_server.ts";

const CHANNELS = { changes: "t_changes", messages: "t_messages" };

Deno.test(postgresTest(
  "postgres notification listener: wakes one env's readers, delivers one channel's messages, and comes back after a drop",
  async () => {
    await using server = await PostgresServer.start();
    const pool = new pg.Pool({ connectionString: server.url, max: 2 });
    pool.on("error", () => {});
    const listener = new NotificationListener(pool, CHANNELS);
    try {
      const received: string[] = [];
      const unsubscribe = await listener.subscribe(
        "prod",
        "jobs",
        (payload) => received.push(payload),
      );
      // A change in another env does not wake this reader; one in its env does.
      const wait = listener.waitForChange("prod", 10_000);
      let woken = false;
      wait.done.then(() => woken = true);
      await pool.query("select pg_notify($1, 'staging')", [CHANNELS.changes]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(woken, false);
      await pool.query("select pg_notify($1, 'prod')", [CHANNELS.changes]);
      await eventually("the reader woken", () => woken);

      const send = (env: string, channel: string, text: string) =>
        pool.query("select pg_notify($1, $2)", [
          CHANNELS.messages,
          JSON.stringify([env, channel, text]),
        ]);
      await send("prod", "other", "not mine");
      await send("staging", "jobs", "not mine either");
      await pool.query("select pg_notify($1, 'not json')", [CHANNELS.messages]);
      await send("prod", "jobs", "hello");
      await eventually("the message", () => received.includes("hello"));
      assert.deepEqual(received, ["hello"]);

      // The listening connection is killed: a waiting reader wakes at once,
      // and the subscriber gets messages again once it is back.
      const dropped = listener.waitForChange("prod", 30_000);
      let wokenByDrop = false;
      dropped.done.then(() => wokenByDrop = true);
      await pool.query(
        `select pg_terminate_backend(pid) from pg_stat_activity
         where query like 'listen%'`,
      );
      await eventually("the reader woken by the drop", () => wokenByDrop);
      await eventually("the subscriber back", async () => {
        await send("prod", "jobs", "again");
        await new Promise((resolve) => setTimeout(resolve, 50));
        return received.includes("again");
      });
      await unsubscribe();
      const wait2 = listener.waitForChange("prod", 30_000);
      await listener.close();
      await wait2.done;
    } finally {
      await listener.close();
      await pool.end();
    }
  },
));
