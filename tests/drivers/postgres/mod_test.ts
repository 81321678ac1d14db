import assert from "node:assert/strict";
import { PostgresDriver } from "../../../drivers/postgres/mod.ts";
import { ConfigError, MessageTooLargeError } from "../../../mod.ts";
import { registration } from "../../_registration.ts";
import { PostgresServer, postgresTest } from "../../_postgres_server.ts";

Deno.test(postgresTest(
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
        "schema_version",
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
));

Deno.test(postgresTest(
  "postgres: concurrent writers' changes reach a reader all, once, in order (positions cannot be skipped)",
  async () => {
    await using server = await PostgresServer.start();
    const writers = await Promise.all(
      Array.from(
        { length: 4 },
        () => PostgresDriver.connect({ url: server.url }),
      ),
    );
    const reader = await PostgresDriver.connect({ url: server.url });
    try {
      let { cursor } = await reader.snapshot("busy");
      const seen: string[] = [];
      const writing = Promise.all(
        writers.map((driver, w) =>
          Promise.all(
            Array.from({ length: 25 }, (_, i) =>
              driver.register(
                registration({ env: "busy", id: `w${w}-${i}`, ttl: 60_000 }),
              )),
          )
        ),
      );
      // Read while the writes commit, as a watcher would.
      for (let round = 0; round < 400 && seen.length < 100; round++) {
        const batch = await reader.changes("busy", cursor, { waitMs: 50 });
        seen.push(...batch.changes.map((c) => c.instance.id));
        cursor = batch.cursor;
      }
      await writing;
      assert.equal(seen.length, 100);
      assert.equal(new Set(seen).size, 100, "each join once");
      // In order: joins come in the order of the seqs they were given.
      const bySeq = (await reader.list({ env: "busy" })).map((i) => i.id);
      assert.deepEqual(seen, bySeq);
    } finally {
      for (const driver of writers) await driver.close();
      await reader.close();
    }
  },
));

Deno.test("a URL that cannot be parsed fails in one line that never shows its password", async () => {
  for (
    const url of [
      "postgres://postgres:S3cretPW@127.0.0.1:99999/db",
      "postgres://postgres:S3cretPW@[::1/db",
    ]
  ) {
    const error = await PostgresDriver.connect({ url }).then(
      () => assert.fail(`connected to ${url}`),
      (error: Error) => error,
    );
    assert.ok(error instanceof ConfigError, String(error));
    assert.match(error.message, /postgres:\*\*\*@.* cannot be parsed/);
    for (
      const text of [error.message, String(error.stack), String(error.cause)]
    ) {
      assert.ok(!text.includes("S3cretPW"), text);
    }
  }
});
