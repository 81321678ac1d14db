import assert from "node:assert/strict";
import { PostgresDriver } from "../drivers/postgres/mod.ts";
import { MessageTooLargeError } from "../mod.ts";
import { testDriverConformance } from "../testing/mod.ts";
import { sleep } from "./_redis_server.ts";
import { registration } from "./_registration.ts";
import { PostgresServer, postgresTest } from "./_postgres_server.ts";

postgresTest("postgres driver passes the conformance suite", async (t) => {
  await using server = await PostgresServer.start();
  const driver = await PostgresDriver.connect({ url: server.url });
  const peer = await PostgresDriver.connect({ url: server.url });
  try {
    await testDriverConformance((name, fn) => t.step(name, fn), {
      driver,
      peer,
      ttl: 300,
      advance: (ms) => sleep(ms),
      stored: async (env) =>
        Number(
          (await server.query(
            "select count(*) as n from roster.instances where env = $1",
            [env],
          ))[0]!.n,
        ),
      trimChanges: async (env) => {
        await server.query("delete from roster.changes where env = $1", [env]);
      },
    });
  } finally {
    await driver.close();
    await peer.close();
  }
});

postgresTest(
  "postgres: the schema is created under its own name, only a digest of the owner is stored, messages over NOTIFY's limit fail, a bad schema name is refused",
  async () => {
    await using server = await PostgresServer.start();
    const driver = await PostgresDriver.connect({
      url: server.url,
      schema: "svc_registry",
    });
    try {
      await driver.register(
        registration({ id: "a", owner: "secret-owner-token" }),
      );
      const tables = await server.query(
        `select table_name from information_schema.tables
         where table_schema = 'svc_registry' order by table_name`,
      );
      assert.deepEqual(tables.map((r) => r.table_name), [
        "changes",
        "envs",
        "instances",
        "leaders",
      ]);
      const [stored] = await server.query(
        "select owner from svc_registry.instances",
      );
      assert.match(String(stored!.owner), /^[0-9a-f]{16}$/);
      await assert.rejects(
        driver.publish("default", "service:api", "x".repeat(8_000)),
        MessageTooLargeError,
      );
      assert.throws(
        () => new PostgresDriver(driver.pool, { schema: "Bad-Name" }),
        /Invalid 'schema': 'Bad-Name' must be/,
      );
      const status = await driver.status("default");
      assert.match(status.server, /^postgresql \d+/);
      assert.equal(status.entries, 1);
      await assert.rejects(
        PostgresDriver.connect({
          url: `postgres://postgres:hunter2@127.0.0.1:1/postgres`,
          connectTimeout: 500,
        }),
        (error: Error) => {
          assert.match(
            error.message,
            /Cannot connect to PostgreSQL at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\//,
          );
          assert.doesNotMatch(error.message, /hunter2/);
          return true;
        },
      );
    } finally {
      await driver.close();
    }
  },
);
