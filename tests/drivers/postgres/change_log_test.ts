/**
 * The PostgreSQL change log stays capped under churn, whatever expires,
 * and an env row lost while its changes remain comes back past them: every
 * write goes on, and a reader whose cursor was in the old epoch gets a
 * gap, which the change feed turns into a fresh snapshot.
 */

import assert from "node:assert/strict";
import { PostgresDriver } from "../../../drivers/postgres/mod.ts";
import { ChangeLogGapError } from "../../../mod.ts";
import { registration } from "../../_registration.ts";
import { PostgresServer, postgresTest } from "../../_postgres_server.ts";

Deno.test(postgresTest(
  "6,000 register and deregister cycles leave the change log at its cap",
  async () => {
    await using server = await PostgresServer.start();
    const driver = await PostgresDriver.connect({ url: server.url, max: 8 });
    try {
      const cycles = 6_000;
      const lanes = 20;
      await Promise.all(
        Array.from({ length: lanes }, async (_, lane) => {
          for (let i = lane; i < cycles; i += lanes) {
            const r = registration({ id: `churn-${lane}` });
            await driver.register(r);
            await driver.deregister(r);
          }
        }),
      );
      const [row] = await server.query(
        "select count(*)::int as n, max(pos)::int as last from roster.changes",
      );
      assert.equal(row!.last, 2 * cycles);
      // The cap, and at most one trim interval over it.
      const kept = Number(row!.n);
      assert.ok(kept <= 10_000 + 256, `${kept} changes kept`);
      assert.ok(kept >= 10_000, `${kept} changes kept`);
    } finally {
      await driver.close();
    }
  },
));

Deno.test(postgresTest(
  "a lost env row: registers, deregisters and status changes go on, and an old cursor reads as a gap",
  async () => {
    await using server = await PostgresServer.start();
    const driver = await PostgresDriver.connect({ url: server.url });
    try {
      const a = registration({ id: "a", ttl: 5_000 });
      const b = registration({ id: "b", ttl: 5_000 });
      await driver.register(a);
      const { cursor } = await driver.snapshot("default");
      await driver.register(b);
      const [before] = await server.query(
        "select max(seq)::text as seq from roster.instances",
      );
      await server.query("delete from roster.envs where env = 'default'");

      await driver.heartbeat({ ...a, status: "warning" });
      assert.equal(await driver.deregister(b), true);
      const c = await driver.register(registration({ id: "c" }));
      assert.ok(BigInt(c.seq) > BigInt(String(before!.seq)), "seq rises");
      await assert.rejects(
        driver.changes("default", cursor, { waitMs: 0 }),
        ChangeLogGapError,
      );
      // Read from the new epoch on, every change arrives.
      const fresh = await driver.snapshot("default");
      await driver.deregister(a);
      const { changes } = await driver.changes("default", fresh.cursor, {
        waitMs: 0,
      });
      assert.deepEqual(
        changes.map((change) => `${change.type} ${change.instance.id}`),
        ["leave a"],
      );
    } finally {
      await driver.close();
    }
  },
));
