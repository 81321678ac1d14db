/**
 * PostgreSQL faults, on real servers the tests start: a restart with data,
 * a cut connection, a row deleted by hand, sessions killed with
 * `pg_terminate_backend`. After each, live instances are listed again
 * within about a heartbeat interval, no watcher sees a live one leave, and
 * the dead stay dead.
 */

import assert from "node:assert/strict";
import { PostgresDriver } from "../../../drivers/postgres/mod.ts";
import { Registry } from "../../../mod.ts";
import { collect, eventually } from "../../discovery/_discovery_suite.ts";
import { sleep } from "../../_redis_server.ts";
import { registration } from "../../_registration.ts";
import { TcpProxy } from "../../_tcp_proxy.ts";
import { PostgresServer, postgresTest } from "../../_postgres_server.ts";

const INTERVAL = 200;
const TTL = 900;

/**
 * Registries of service `api` with drivers of their own; `timing` sets a
 * query timeout short enough that beats fail (and back off) in an outage.
 */
async function fleet(
  url: string,
  ids: string[],
  timing: { interval: number; ttl: number; queryTimeout?: number } = {
    interval: INTERVAL,
    ttl: TTL,
  },
) {
  const drivers: PostgresDriver[] = [];
  const registries: Registry[] = [];
  for (const id of ids) {
    const driver = await PostgresDriver.connect({
      url,
      connectTimeout: 1_000,
      queryTimeout: timing.queryTimeout,
    });
    drivers.push(driver);
    registries.push(
      new Registry({
        driver,
        service: "api",
        id,
        heartbeatInterval: timing.interval,
        ttl: timing.ttl,
        heartbeatTimeout: timing.queryTimeout,
      }),
    );
  }
  for (const registry of registries) await registry.start();
  return {
    registries,
    async [Symbol.asyncDispose]() {
      for (const registry of registries) await registry.stop();
      for (const driver of drivers) await driver.close();
    },
  };
}

Deno.test(postgresTest(
  "postgres restarted with its data, down longer than the ttl: no live instance leaves, the dead one does",
  async () => {
    await using server = await PostgresServer.start();
    await using live = await fleet(server.url, ["a", "b"]);
    const observerDriver = await PostgresDriver.connect({ url: server.url });
    const observer = new Registry({ driver: observerDriver });
    // A crashed instance: registered, never beats again.
    await observerDriver.register(
      registration({ id: "dead", ttl: TTL, heartbeatInterval: INTERVAL }),
    );
    const controller = new AbortController();
    const seen = collect(
      observer.watch("api", { current: true, signal: controller.signal }),
    );
    try {
      await eventually(
        "dead expired",
        async () =>
          !(await observer.instances("api")).some((i) => i.id === "dead"),
      );
      await server.restart(1_500);
      await eventually(
        "both back",
        async () =>
          (await observer.instances("api")).map((i) => i.id).join() === "a,b",
        10_000,
      );
      await eventually(
        "the dead one's leave",
        () => seen.lines().some((l) => l === "leave expired dead"),
        10_000,
      );
      await sleep(TTL * 2);
      const leaves = seen.lines().filter((l) => l.startsWith("leave"));
      assert.deepEqual(leaves, ["leave expired dead"], seen.lines().join("\n"));
      for (const registry of live.registries) {
        assert.equal(registry.state, "running");
      }
      // Held through the outage under their seq: never registered again.
      assert.ok(
        !seen.lines().some((l) => l.includes("reregistered")),
        seen.lines().join("\n"),
      );
    } finally {
      controller.abort();
      await seen.done.catch(() => {});
      await observer.stop();
      await observerDriver.close();
    }
  },
));

Deno.test(postgresTest(
  "postgres: a cut connection, a row deleted by hand and killed sessions each heal within about an interval",
  async () => {
    await using server = await PostgresServer.start();
    await using proxy = new TcpProxy(server.port);
    const url = `postgres://postgres@127.0.0.1:${proxy.port}/postgres`;
    await using live = await fleet(url, ["a"]);
    const [registry] = live.registries;
    const listed = async () =>
      (await server.query(
        `select id from roster.instances
         where expires_at > (extract(epoch from clock_timestamp()) * 1000)::int8`,
      )).map((r) => r.id);

    // The connection cut for a moment.
    await proxy.cut();
    await sleep(300);
    proxy.restore();
    await eventually("beats again after the cut", async () => {
      const before = registry!.instance()?.heartbeatAt ?? 0;
      await sleep(INTERVAL * 2);
      return (registry!.instance()?.heartbeatAt ?? 0) > before;
    }, 10_000);
    assert.deepEqual(await listed(), ["a"]);

    // The row deleted by hand while its lease ran: the next beat puts it
    // back under the same seq, as on Redis.
    const seqBefore = registry!.instance()!.seq;
    await server.query("delete from roster.instances where id = 'a'");
    await eventually("put back", async () => {
      const [row] = await server.query(
        "select seq from roster.instances where id = 'a'",
      );
      return row !== undefined;
    });
    assert.deepEqual(await listed(), ["a"]);
    assert.equal(registry!.instance()!.seq, seqBefore, "the same seq");
    const [row] = await server.query(
      "select seq from roster.instances where id = 'a'",
    );
    assert.equal(Number(row!.seq), seqBefore);

    // Every session of the registry's killed.
    await server.query(
      `select pg_terminate_backend(pid) from pg_stat_activity
       where pid <> pg_backend_pid() and datname = 'postgres'
         and backend_type = 'client backend'`,
    );
    const seqAfterKill = registry!.instance()!.seq;
    await eventually("beats again after the kill", async () => {
      const before = registry!.instance()?.heartbeatAt ?? 0;
      await sleep(INTERVAL * 2);
      return (registry!.instance()?.heartbeatAt ?? 0) > before;
    }, 10_000);
    assert.equal(registry!.instance()!.seq, seqAfterKill, "not re-registered");
    assert.deepEqual(await listed(), ["a"]);
  },
));

Deno.test(postgresTest(
  "a cold listing sent late in a write lock that outlasts the ttl waits for the beats it held back, which come back spread over half an interval",
  async () => {
    await using server = await PostgresServer.start();
    // Beats time out under the lock and try again up to half an interval
    // (300 ms) later: they land spread over that after it.
    await using _members = await fleet(
      server.url,
      ["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7"],
      { interval: 600, ttl: 1_200, queryTimeout: 100 },
    );
    const cold = await PostgresDriver.connect({ url: server.url });
    try {
      const lock = server.query(
        `DO $$ BEGIN
           LOCK TABLE roster.instances IN EXCLUSIVE MODE;
           PERFORM pg_sleep(1.6);
         END $$`,
      );
      // Every lease has lapsed by now; the listing's test write waits out
      // the rest of the lock.
      await sleep(1_450);
      const listed = (await cold.list({ env: "default" })).map((i) => i.id);
      assert.equal(listed.length, 8, `listed ${listed.join(" ")}`);
      await lock;
    } finally {
      await cold.close();
    }
  },
));

Deno.test(postgresTest(
  "every postgres process frozen past the ttl, three times, while the owners' beats time out and back off: no leave, no new seq",
  async () => {
    await using server = await PostgresServer.start();
    const drivers: PostgresDriver[] = [];
    const registries: Registry[] = [];
    const reregistered: string[] = [];
    for (let i = 0; i < 6; i++) {
      const driver = await PostgresDriver.connect({
        url: server.url,
        queryTimeout: 100,
      });
      drivers.push(driver);
      const registry = new Registry({
        driver,
        service: "api",
        id: `m${i}`,
        heartbeatInterval: 200,
        ttl: 600,
        heartbeatTimeout: 100,
        protection: false,
      });
      registry.on("reregistered", () => reregistered.push(`m${i}`));
      registries.push(registry);
      await registry.start();
    }
    const observerDriver = await PostgresDriver.connect({ url: server.url });
    const observer = new Registry({
      driver: observerDriver,
      protection: false,
    });
    const controller = new AbortController();
    const seen = collect(
      observer.watch("api", { current: true, signal: controller.signal }),
    );
    try {
      await eventually("all seen", () => seen.lines().length === 6);
      for (let round = 0; round < 3; round++) {
        await server.signalAll("SIGSTOP");
        await sleep(1_500);
        await server.signalAll("SIGCONT");
        await eventually(
          "all beating again",
          () => registries.every((r) => r.heartbeatState === "healthy"),
          5_000,
        );
      }
      await sleep(600 * 2);
      assert.deepEqual(
        seen.lines().filter((l) => !l.startsWith("join current")),
        [],
        "no live instance left or came back",
      );
      assert.deepEqual(reregistered, []);
    } finally {
      controller.abort();
      await seen.done.catch(() => {});
      await observer.stop();
      await observerDriver.close();
      for (const registry of registries) await registry.stop();
      for (const driver of drivers) await driver.close();
    }
  },
));
