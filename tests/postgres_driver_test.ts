import assert from "node:assert/strict";
import { PostgresDriver } from "../drivers/postgres/mod.ts";
import { MessageTooLargeError } from "../mod.ts";
import { testDriverConformance } from "../testing/mod.ts";
import { sleep } from "./_redis_server.ts";
import { PostgresServer, postgresTest } from "./_postgres_server.ts";

postgresTest("postgres driver passes the conformance suite", async (t) => {
  await using server = await PostgresServer.start();
  const driver = await PostgresDriver.connect({ url: server.url });
  const peer = await PostgresDriver.connect({ url: server.url });
  const admin = server.admin();
  try {
    await testDriverConformance((name, fn) => t.step(name, fn), {
      driver,
      peer,
      ttl: 300,
      advance: (ms) => sleep(ms),
      stored: async (env) =>
        Number(
          (await admin`select count(*) as n from roster.instances where env = ${env}`)[
            0
          ]!.n,
        ),
      trimChanges: async (env) => {
        await admin`delete from roster.changes where env = ${env}`;
      },
    });
  } finally {
    await driver.close();
    await peer.close();
  }
});

postgresTest(
  "postgres: the schema is created under its own name, messages over NOTIFY's limit fail, and a bad schema name is refused",
  async () => {
    await using server = await PostgresServer.start();
    const driver = await PostgresDriver.connect({
      url: server.url,
      schema: "svc_registry",
    });
    try {
      await driver.register({
        id: "a",
        service: "api",
        env: "default",
        version: "",
        addr: "",
        meta: {},
        hostname: "h",
        pid: 1,
        owner: "o",
        status: "healthy",
        ttl: 1000,
        heartbeatInterval: 300,
      });
      const admin = server.admin();
      const tables = await admin`
      select table_name from information_schema.tables
      where table_schema = 'svc_registry' order by table_name`;
      assert.deepEqual(tables.map((r) => r.table_name), [
        "changes",
        "envs",
        "instances",
        "leaders",
      ]);
      const [stored] = await admin`select owner from svc_registry.instances`;
      assert.notEqual(
        stored!.owner,
        "o",
        "only a digest of the owner token is stored",
      );
      await assert.rejects(
        driver.publish("default", "service:api", "x".repeat(8_000)),
        MessageTooLargeError,
      );
      assert.throws(
        () => new PostgresDriver(admin, { schema: "Bad-Name" }),
        /Invalid 'schema': 'Bad-Name' must be/,
      );
    } finally {
      await driver.close();
    }
  },
);
