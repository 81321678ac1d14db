/**
 * Listings are reads, owner tokens stay secret, and an env's bookkeeping
 * does not outlive it.
 */

import assert from "node:assert/strict";
import { AlreadyRegisteredError } from "../../../mod.ts";
import { RedisDriver } from "../../../drivers/redis/mod.ts";
import { registration } from "../../_registration.ts";
import {
  freePort,
  monitorCommands,
  RedisServer,
  redisTest,
  SENTINEL_TIMERS_MS,
  sleep,
} from "../../_redis_server.ts";

function commandCalls(info: string): Map<string, number> {
  const calls = new Map<string, number>();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    calls.set(match[1] as string, Number(match[2]));
  }
  return calls;
}

Deno.test(redisTest(
  "list, services and snapshot write nothing: only read-only scripts and reads reach Redis",
  async () => {
    await using server = await RedisServer.start();
    const admin = await server.admin();
    const driver = await RedisDriver.connect({ url: server.url });
    try {
      const reg = registration({ id: "api-1", ttl: 60_000 });
      await driver.register(reg);
      const monitor = await monitorCommands(admin);
      await driver.list({ env: "default" });
      await driver.list({ env: "default", services: ["api"] });
      await driver.services("default");
      await driver.snapshot("default");
      await monitor.stop();
      const sent = monitor.seen.map(({ args, fromLua }) =>
        `${fromLua ? "lua " : ""}${args[0]}`.toLowerCase()
      );
      const writes = sent.filter((command) =>
        !/^(lua )?(evalsha_ro|eval_ro|hget|hlen|time|get|hmget|xrevrange|info)$/
          .test(
            command,
          )
      );
      assert.deepEqual(writes, [], `writes: ${writes.join(", ")}`);
      assert.ok(sent.includes("evalsha_ro"));
    } finally {
      await driver.close();
    }
  },
));

Deno.test(redisTest(
  "the first listing after the script cache was lost is complete",
  async () => {
    await using server = await RedisServer.start();
    const admin = await server.admin();
    const driver = await RedisDriver.connect({ url: server.url });
    try {
      await driver.register(registration({ id: "api-1", ttl: 60_000 }));
      await driver.register(registration({ id: "api-2", ttl: 60_000 }));
      await admin.script("FLUSH");
      assert.deepEqual(
        (await driver.list({ env: "default" })).map((i) => i.id),
        ["api-1", "api-2"],
      );
      await admin.script("FLUSH");
      assert.deepEqual(
        (await driver.snapshot("default")).instances.map((i) => i.id),
        ["api-1", "api-2"],
      );
      await admin.script("FLUSH");
      assert.deepEqual(await driver.services("default"), ["api"]);
    } finally {
      await driver.close();
    }
  },
));

Deno.test(redisTest(
  "with replicaReads under Sentinel, listings are served by the replica",
  async () => {
    await using master = await RedisServer.start();
    await using replica = await RedisServer.start([
      "--replicaof",
      "127.0.0.1",
      String(master.port),
    ]);
    await replica.replicaInSync();
    const sentinelPort = freePort();
    await using _sentinel = await RedisServer.start(["--sentinel"], {
      port: sentinelPort,
      config: `sentinel monitor mymaster 127.0.0.1 ${master.port} 1\n`,
    });
    const driver = await RedisDriver.connect({
      sentinels: [`127.0.0.1:${sentinelPort}`],
      name: "mymaster",
      replicaReads: true,
    });
    try {
      await driver.register(registration({ id: "api-1", ttl: 60_000 }));
      await (await master.admin()).call("WAIT", "1", "1000");
      await (await replica.admin()).config("RESETSTAT");
      await (await master.admin()).config("RESETSTAT");
      const listed = await driver.list({ env: "default" });
      assert.deepEqual(listed.map((i) => i.id), ["api-1"]);
      const onReplica = commandCalls(
        await (await replica.admin()).info("commandstats"),
      );
      const onMaster = commandCalls(
        await (await master.admin()).info("commandstats"),
      );
      assert.ok((onReplica.get("evalsha_ro") ?? 0) >= 1, "read on the replica");
      assert.equal(onMaster.get("evalsha_ro"), undefined, "not on the master");
    } finally {
      await driver.close();
      await sleep(SENTINEL_TIMERS_MS);
    }
  },
));

Deno.test(redisTest(
  "a process that can list cannot refresh or deregister another's instance",
  async () => {
    await using server = await RedisServer.start();
    const admin = await server.admin();
    const owner = await RedisDriver.connect({ url: server.url });
    const lister = await RedisDriver.connect({ url: server.url });
    try {
      const reg = registration({ id: "api-1", ttl: 60_000 });
      const registered = await owner.register(reg);
      // Everything a lister can see: listings, and the raw keys.
      const seen = [
        JSON.stringify(await lister.list({ env: "default" })),
        JSON.stringify(await lister.snapshot("default")),
      ];
      for (const key of await admin.keys("roster:*")) {
        const type = await admin.type(key);
        if (type === "string") seen.push(await admin.get(key) ?? "");
        if (type === "hash") {
          seen.push(JSON.stringify(await admin.hgetall(key)));
        }
      }
      assert.ok(
        seen.every((text) => !text.includes(reg.owner)),
        "the owner token is stored nowhere",
      );
      // Whatever it tries as an owner, it holds none.
      const stored = Object.values(await admin.hgetall("roster:{default}:ids"));
      for (const guess of [...stored, ...stored.join("\t").split("\t")]) {
        await assert.rejects(
          lister.heartbeat({ ...reg, owner: guess }),
          AlreadyRegisteredError,
        );
        assert.equal(await lister.deregister({ ...reg, owner: guess }), false);
      }
      const [still] = await lister.list({ env: "default" });
      assert.equal(still?.seq, registered.seq);
      assert.equal(still?.expiresAt, registered.expiresAt);
    } finally {
      await owner.close();
      await lister.close();
    }
  },
));

Deno.test(redisTest(
  "an env's change log and meta expire once idle, and a leave does not copy the instance",
  async () => {
    await using server = await RedisServer.start();
    const admin = await server.admin();
    const driver = await RedisDriver.connect({ url: server.url });
    try {
      const meta: Record<string, string> = {};
      for (let i = 0; i < 8; i++) meta[`key${i}`] = "v".repeat(1000);
      const reg = registration({ id: "api-1", ttl: 60_000, meta });
      await driver.register(reg);
      await driver.deregister(reg);
      for (const key of ["meta", "log"]) {
        const ttl = await admin.pttl(`roster:{default}:${key}`);
        assert.ok(ttl > 0 && ttl <= 86_400_000, `${key} expires (${ttl})`);
      }
      const [[, fields]] = await admin.xrevrange(
        "roster:{default}:log",
        "+",
        "-",
        "COUNT",
        1,
      ) as [string, string[]][] as [[string, string[]]];
      const leave = fields[1] as string;
      assert.match(leave, /^l\t/);
      assert.ok(leave.length < 64, `a leave of ${leave.length} bytes`);
      // The service's keys are gone with its last instance.
      assert.deepEqual(
        (await admin.keys("roster:*")).sort(),
        ["roster:{default}:log", "roster:{default}:meta"],
      );
    } finally {
      await driver.close();
    }
  },
));
