/**
 * The PostgreSQL driver's tables are versioned: a steady start runs no
 * DDL (so it never queues behind a long reader, and a role with only DML
 * rights runs it), a schema behind is brought up to date, one ahead is
 * refused, and one dropped by hand is put back by the running processes.
 */

import assert from "node:assert/strict";
import { PostgresDriver } from "../../../drivers/postgres/mod.ts";
import { SCHEMA_VERSION } from "../../../drivers/postgres/_schema.ts";
import { ConfigError } from "../../../mod.ts";
import { registration } from "../../_registration.ts";
import { PostgresServer, postgresTest } from "../../_postgres_server.ts";
import { eventually } from "../../discovery/_discovery_suite.ts";
// @ts-types="@types/pg"
import pg from "pg";

Deno.test(postgresTest(
  "a steady start runs no DDL: behind a long reader of the tables, a new process connects and beats at once",
  async () => {
    await using server = await PostgresServer.start();
    const first = await PostgresDriver.connect({ url: server.url });
    const a = registration({ id: "a" });
    await first.register(a);
    // A report query or pg_dump: a long transaction that read the table.
    const reader = new pg.Client({ connectionString: server.url });
    await reader.connect();
    try {
      await reader.query("begin");
      await reader.query("select count(*) from roster.instances");
      const started = Date.now();
      const second = await PostgresDriver.connect({
        url: server.url,
        queryTimeout: 2_000,
      });
      try {
        await second.register(registration({ id: "b" }));
        await first.heartbeat(a);
        // No DDL waits for the reader's lock: nothing queued behind it.
        const waiting = await server.query(
          `select count(*)::int as n from pg_locks where not granted`,
        );
        assert.equal(waiting[0]!.n, 0);
        assert.ok(Date.now() - started < 2_000);
      } finally {
        await second.close();
      }
    } finally {
      await reader.query("rollback").catch(() => {});
      await reader.end();
      await first.close();
    }
  },
));

Deno.test(postgresTest(
  "a migration that cannot get its lock gives up within the lock timeout, with a message that says why",
  async () => {
    await using server = await PostgresServer.start();
    const first = await PostgresDriver.connect({ url: server.url });
    await first.close();
    // An older schema (no version yet, and a column missing), and a reader
    // that holds the table the migration must change.
    await server.query("drop table roster.schema_version");
    await server.query("alter table roster.instances drop column weight");
    const reader = new pg.Client({ connectionString: server.url });
    await reader.connect();
    try {
      await reader.query("begin");
      await reader.query("select count(*) from roster.instances");
      await assert.rejects(
        PostgresDriver.connect({ url: server.url }),
        /Cannot bring schema 'roster' from version 0 to \d+: .*lock timeout.*try again/,
      );
    } finally {
      await reader.query("rollback").catch(() => {});
      await reader.end();
    }
    // Once the reader is gone, the next start migrates.
    const later = await PostgresDriver.connect({ url: server.url });
    await later.close();
    const [row] = await server.query(
      "select version from roster.schema_version",
    );
    assert.equal(row!.version, SCHEMA_VERSION);
  },
));

Deno.test(postgresTest(
  "tables newer than this release are refused with a clear message, not misread",
  async () => {
    await using server = await PostgresServer.start();
    const first = await PostgresDriver.connect({ url: server.url });
    await first.close();
    await server.query("update roster.schema_version set version = 99");
    const error = await PostgresDriver.connect({ url: server.url }).then(
      () => assert.fail("connected"),
      (error: Error) => error,
    );
    assert.ok(error.cause instanceof ConfigError, String(error.cause));
    assert.match(
      error.message,
      /schema 'roster': its tables are at version 99, newer than this release of roster reads \(\d+\); upgrade roster/,
    );
  },
));

Deno.test(postgresTest(
  "a schema dropped by hand is put back by the running processes: beats and listings work again",
  async () => {
    await using server = await PostgresServer.start();
    const driver = await PostgresDriver.connect({ url: server.url });
    try {
      const a = registration({ id: "a", ttl: 2_000 });
      await driver.register(a);
      await server.query("drop schema roster cascade");
      await eventually("beats work again", async () => {
        try {
          await driver.heartbeat(a);
          return true;
        } catch {
          return false;
        }
      });
      assert.deepEqual(
        (await driver.list({ env: "default" })).map((i) => i.id),
        ["a"],
      );
      // One table alone, too.
      await server.query("drop table roster.leaders");
      await eventually("campaigns work again", async () => {
        try {
          return await driver.campaign(a) !== undefined;
        } catch {
          return false;
        }
      });
    } finally {
      await driver.close();
    }
  },
));

Deno.test(postgresTest(
  "steady operation needs only the DML rights the README names",
  async () => {
    await using server = await PostgresServer.start();
    // The owner creates the tables once.
    const owner = await PostgresDriver.connect({ url: server.url });
    await owner.close();
    // The README's grants, word for word.
    for (
      const statement of [
        "CREATE ROLE roster_app LOGIN",
        "GRANT USAGE ON SCHEMA roster TO roster_app",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA roster TO roster_app",
      ]
    ) await server.query(statement);
    const url = `postgres://roster_app@127.0.0.1:${server.port}/postgres`;
    const driver = await PostgresDriver.connect({ url });
    const watcher = await PostgresDriver.connect({ url });
    try {
      const a = registration({ id: "a", ttl: 300 });
      const b = registration({ id: "b", ttl: 5_000 });
      const cursor = (await watcher.snapshot("default")).cursor;
      await driver.register(a);
      await driver.register(b);
      await driver.heartbeat({ ...b, status: "warning" });
      assert.ok(await driver.campaign(b) === undefined);
      await eventually("a lapses and is purged", async () => {
        await driver.purge("default");
        return (await server.query("select id from roster.instances"))
          .length === 1;
      });
      const term = await driver.campaign({ ...b, status: "warning" });
      assert.ok(term !== undefined);
      await driver.resign({ ...b, status: "warning" }, term);
      const { changes } = await watcher.changes("default", cursor, {
        waitMs: 0,
      });
      assert.deepEqual(
        changes.map((c) => `${c.type} ${c.reason} ${c.instance.id}`),
        [
          "join registered a",
          "join registered b",
          "update health b",
          "leave expired a",
        ],
      );
      assert.equal(await driver.deregister(b), true);
      await driver.publish?.("default", "news", "hello");
    } finally {
      await driver.close();
      await watcher.close();
    }
  },
));
