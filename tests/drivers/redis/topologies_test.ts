import assert from "node:assert/strict";
import { startForSetup } from "../../_registration.ts";
import { Cluster, Redis } from "ioredis";
import { Registry } from "../../../mod.ts";
import { RedisDriver } from "../../../drivers/redis/mod.ts";
import {
  freePort,
  RedisServer,
  redisTest,
  SENTINEL_TIMERS_MS,
  sleep,
} from "../../_redis_server.ts";
import { figure } from "../../_figures.ts";
import { assertInvariants } from "../../_invariants.ts";
import { collect } from "../../discovery/_discovery_suite.ts";
import { redisSentinelEngine } from "../../robustness/redis_sentinel_engine.ts";
import {
  addReplica,
  masterOf,
  moveSlot,
  slotOf,
  startCluster,
  takeOver,
  until,
} from "../../_redis_cluster.ts";

Deno.test(redisTest(
  "Sentinel: registrations are back within two intervals of a failover",
  async () => {
    const INTERVAL = 400;
    await using master = await RedisServer.start();
    await using replica = await RedisServer.start([
      "--replicaof",
      "127.0.0.1",
      String(master.port),
    ]);
    await replica.replicaInSync();
    const sentinelPort = freePort();
    await using sentinel = await RedisServer.start(["--sentinel"], {
      port: sentinelPort,
      config: [
        `sentinel monitor mymaster 127.0.0.1 ${master.port} 1`,
        "sentinel down-after-milliseconds mymaster 400",
        "sentinel failover-timeout mymaster 4000",
        "",
      ].join("\n"),
    });
    const drivers: RedisDriver[] = [];
    const registries: Registry[] = [];
    try {
      for (const id of ["api-a", "api-b"]) {
        const driver = await RedisDriver.connect({
          sentinels: [`127.0.0.1:${sentinelPort}`],
          name: "mymaster",
          commandTimeout: INTERVAL / 2,
        });
        drivers.push(driver);
        const registry = new Registry({
          driver,
          service: "api",
          id,
          heartbeatInterval: INTERVAL,
          ttl: INTERVAL * 4,
        });
        registries.push(registry);
        await registry.start();
      }
      // A watcher through Sentinel, whose view must survive the failover.
      const watcher = new Registry({
        driver: drivers[0]!,
        heartbeatInterval: INTERVAL,
        ttl: INTERVAL * 4,
      });
      registries.push(watcher);
      const watching = new AbortController();
      const seen = collect(
        watcher.watch("api", { current: true, signal: watching.signal }),
      );
      await until(
        "watching",
        5_000,
        () => Promise.resolve(seen.events.length === 2 || undefined),
      );
      const sentinelAdmin = await sentinel.admin();
      const masterPort = async () =>
        Number(
          ((await sentinelAdmin.call(
            "SENTINEL",
            "GET-MASTER-ADDR-BY-NAME",
            "mymaster",
          )) as string[])[1],
        );
      assert.equal(await masterPort(), master.port);
      await master.stop("SIGKILL");
      await until(
        "failover",
        20_000,
        async () => (await masterPort()) === replica.port || undefined,
      );
      const failedOverAt = Date.now();
      const promoted = new Redis({
        port: replica.port,
        host: "127.0.0.1",
        lazyConnect: true,
      });
      await promoted.connect();
      try {
        const driver = new RedisDriver(promoted);
        await until(
          "both instances listed on the new master",
          INTERVAL * 2,
          async () => {
            const ids = (await driver.list({ env: "default" })).map((i) =>
              i.id
            );
            return ids.includes("api-a") && ids.includes("api-b")
              ? true
              : undefined;
          },
        );
        const took = Date.now() - failedOverAt;
        figure("Sentinel failover", "back after failover (ms)", took);
        assert.ok(took <= INTERVAL * 2, `back after ${took}ms`);
        await until(
          "the watcher replays to the new master's state",
          10_000,
          async () => {
            try {
              await assertInvariants({
                driver,
                live: registries.slice(0, 2),
                events: seen.events,
              });
              return true;
            } catch {
              return undefined;
            }
          },
        );
        watching.abort();
        await seen.done;
      } finally {
        promoted.disconnect();
        await sleep(10);
      }
    } finally {
      for (const registry of registries) {
        await registry.stop();
      }
      for (const driver of drivers) {
        await driver.close();
      }
      await sleep(SENTINEL_TIMERS_MS);
    }
  },
));

Deno.test(redisTest(
  "TLS: the driver works over rediss with the server's CA",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "roster-tls-" });
    const openssl = (...args: string[]) => {
      const { success, stderr } = new Deno.Command("openssl", {
        args,
        cwd: dir,
        stdout: "null",
        stderr: "piped",
      }).outputSync();
      if (!success) throw new Error(new TextDecoder().decode(stderr));
    };
    openssl(
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-days",
      "1",
      "-subj",
      "/CN=roster-test-ca",
    );
    openssl(
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "server.key",
      "-out",
      "server.csr",
      "-subj",
      "/CN=127.0.0.1",
    );
    await Deno.writeTextFile(`${dir}/ext.cnf`, "subjectAltName=IP:127.0.0.1\n");
    openssl(
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.crt",
      "-days",
      "1",
      "-extfile",
      "ext.cnf",
    );
    const port = freePort();
    await using server = await RedisServer.start([
      "--port",
      "0",
      "--tls-port",
      String(port),
      "--tls-cert-file",
      `${dir}/server.crt`,
      "--tls-key-file",
      `${dir}/server.key`,
      "--tls-ca-cert-file",
      `${dir}/ca.crt`,
      "--tls-auth-clients",
      "no",
    ], { port });
    const ca = await Deno.readTextFile(`${dir}/ca.crt`);
    const driver = await RedisDriver.connect({
      url: `rediss://127.0.0.1:${server.port}`,
      tlsCa: ca,
    });
    try {
      const registry = new Registry({ driver, service: "api", id: "api-tls" });
      await registry.start();
      assert.deepEqual(
        (await driver.list({ env: "default" })).map((i) => i.id),
        ["api-tls"],
      );
      await registry.stop();
      // Without the CA the server's certificate is not trusted.
      await assert.rejects(
        RedisDriver.connect({
          url: `rediss://127.0.0.1:${server.port}`,
          connectTimeout: 2000,
        }),
        /Cannot connect to Redis at rediss:/,
      );
    } finally {
      await driver.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
));

Deno.test(redisTest(
  "Redis Cluster: a master restarted without its data gets its registrations back",
  async () => {
    const INTERVAL = 200;
    const nodes = await startCluster();
    const clients: Cluster[] = [];
    const drivers: RedisDriver[] = [];
    const registries: Registry[] = [];
    try {
      const cluster = () => {
        const client = new Cluster(
          nodes.map((n) => ({ host: "127.0.0.1", port: n.port })),
          {
            enableOfflineQueue: false,
            clusterRetryStrategy: () => 100,
            redisOptions: {
              maxRetriesPerRequest: 1,
              disconnectTimeout: 0,
              commandTimeout: INTERVAL / 2,
            },
          },
        );
        clients.push(client);
        return client;
      };
      const probe = cluster();
      await until(
        "cluster client ready",
        10_000,
        async () => (await probe.ping()) === "PONG" || undefined,
      );
      // Find an env whose hash tag lives on the first master.
      let env = "";
      for (let i = 0; !env; i++) {
        const slot = Number(
          await probe.call("CLUSTER", "KEYSLOT", `roster:{c${i}}:x`),
        );
        if (slot <= 5460) env = `c${i}`;
      }
      for (const id of ["a", "b"]) {
        const client = cluster();
        await until(
          `${id}'s client ready`,
          10_000,
          async () => (await client.ping()) === "PONG" || undefined,
        );
        const driver = new RedisDriver(client);
        drivers.push(driver);
        const registry = new Registry({
          driver,
          env,
          service: "api",
          id,
          heartbeatInterval: INTERVAL,
          ttl: INTERVAL * 4,
        });
        registries.push(registry);
        await registry.start();
      }
      const reader = new RedisDriver(probe);
      assert.deepEqual((await reader.list({ env })).map((i) => i.id), [
        "a",
        "b",
      ]);
      await nodes[0]!.restart(300);
      await until("cluster healthy again", 15_000, async () => {
        const info = await (await nodes[0]!.admin()).call(
          "CLUSTER",
          "INFO",
        ) as string;
        return info.includes("cluster_state:ok") || undefined;
      });
      const backAt = Date.now();
      await until("both back", 10_000, async () => {
        const ids = (await reader.list({ env })).map((i) => i.id);
        return ids.includes("a") && ids.includes("b") ? true : undefined;
      });
      const took = Date.now() - backAt;
      figure(
        "Cluster master restarted",
        "back after the master was healthy (ms)",
        took,
      );
      assert.ok(
        took <= INTERVAL * 10,
        `back ${took}ms after the master was healthy`,
      );
    } finally {
      for (const registry of registries) await registry.stop();
      for (const driver of drivers) await driver.close();
      for (const client of clients) client.disconnect();
      await sleep(20);
      for (const node of nodes) await node[Symbol.asyncDispose]();
    }
  },
));

/**
 * `count` instances of `api` beating through five Cluster clients, and a
 * watcher: what the Cluster fault tests break, and how they check that
 * nothing was lost. Dispose to stop them.
 */
async function clusterFleet(seeds: string[], count: number, interval: number) {
  const drivers: RedisDriver[] = [];
  const registries: Registry[] = [];
  const reregistered: string[] = [];
  const seqs = new Map<string, number>();
  const watching = new AbortController();
  const stop = async () => {
    watching.abort();
    for (const registry of registries) await registry.stop();
    for (const driver of drivers) await driver.close();
  };
  try {
    for (let i = 0; i < 5; i++) {
      drivers.push(
        await RedisDriver.connect({
          clusterNodes: seeds,
          commandTimeout: interval / 2,
        }),
      );
    }
    for (let i = 0; i < count; i++) {
      const registry = await startForSetup(
        () =>
          new Registry({
            driver: drivers[i % 5]!,
            service: "api",
            id: `api-${i}`,
            heartbeatInterval: interval,
            ttl: interval * 5,
          }),
        3,
        interval * 5 + 100,
      );
      seqs.set(`api-${i}`, registry.instance()!.seq);
      registry.on(
        "reregistered",
        ({ instance }) => reregistered.push(instance.id),
      );
      registries.push(registry);
    }
    const watcher = new Registry({
      driver: drivers[0]!,
      heartbeatInterval: interval,
      ttl: interval * 5,
    });
    registries.push(watcher);
    const seen = collect(
      watcher.watch("api", { current: true, signal: watching.signal }),
    );
    await until(
      "watching",
      5_000,
      () => Promise.resolve(seen.events.length === count || undefined),
    );
    return {
      /** Waits until all are listed again, then checks that nothing was lost. */
      async assertNothingLost(): Promise<void> {
        const listed = await until(
          "all listed again",
          15_000,
          async () => {
            const all = await drivers[1]!.list({ env: "default" });
            return all.length === count ? all : undefined;
          },
        );
        await sleep(interval * 5);
        for (const instance of listed) {
          assert.equal(instance.seq, seqs.get(instance.id), "no new seq");
        }
        assert.deepEqual(reregistered, []);
        assert.deepEqual(
          seen.events.filter((e) => e.type !== "join" || e.reason !== "current")
            .map((e) => `${e.type} ${e.reason} ${e.instance.id}`),
          [],
          "no leave, and no join after the first",
        );
        watching.abort();
        await seen.done;
      },
      [Symbol.asyncDispose]: stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Moves the slot of {default} the way redis-cli --cluster reshard does,
 * `keysPerMigrate` keys at a time with `pauseMs` between, while 50
 * instances beat and a watcher runs; a cold observer lists all along.
 * Nothing may be lost: no leave, no new seq, and every listing either
 * fails or names all 50.
 */
async function moveSlotWhileBeating(
  keysPerMigrate: number,
  pauseMs: number,
): Promise<void> {
  {
    const INTERVAL = 200;
    const nodes = await startCluster();
    const seeds = nodes.map((node) => `127.0.0.1:${node.port}`);
    try {
      await using fleet = await clusterFleet(seeds, 50, INTERVAL);

      // Move the slot of {default} to another master while everyone keeps
      // beating.
      const slot = await slotOf(nodes[0]!, "default");
      const sourceNode = await masterOf(nodes, slot);
      const targetNode = nodes[(nodes.indexOf(sourceNode) + 1) % nodes.length]!;
      const source = await sourceNode.admin();
      const target = await targetNode.admin();
      // A cold observer lists all along, each time through a new driver.
      let moving = true;
      const partial: { count: number; at: number }[] = [];
      let listings = 0;
      const observer = (async () => {
        while (moving) {
          const cold = await RedisDriver.connect({
            clusterNodes: seeds,
            commandTimeout: INTERVAL,
          }).catch(() => undefined);
          if (cold) {
            try {
              const listed = await cold.list({ env: "default" });
              listings++;
              if (listed.length !== 50) {
                partial.push({ count: listed.length, at: Date.now() });
              }
            } catch { /* a failed listing tells no lie */ }
            await cold.close();
          }
          await sleep(50);
        }
      })();
      const started = Date.now();
      // When the last key moved: from then on beats land again.
      const lastMigrateAt = await moveSlot(
        nodes,
        slot,
        sourceNode,
        targetNode,
        { keysPerMigrate, pauseMs },
      );
      moving = false;
      await observer;
      figure(
        "Cluster reshard",
        `slot moved in (ms), ${keysPerMigrate} key(s) per MIGRATE, ${pauseMs} ms apart`,
        Date.now() - started,
      );
      // A live instance may be missing only within one interval (and a
      // beat's timeout) after the fault ends, as the robustness checker
      // allows: its owner's next beat is on its way.
      assert.deepEqual(
        partial.filter(({ at }) =>
          at < lastMigrateAt || at > lastMigrateAt + INTERVAL * 1.5 + 100
        ).map(({ count, at }) =>
          `${count} of 50, ${at - lastMigrateAt} ms after the last MIGRATE`
        ),
        [],
        `of ${listings} cold listings`,
      );
      assert.equal(
        Number(await source.call("CLUSTER", "COUNTKEYSINSLOT", String(slot))),
        0,
        "the migration completed",
      );
      assert.ok(
        Number(await target.call("CLUSTER", "COUNTKEYSINSLOT", String(slot))) >
          0,
      );

      await fleet.assertNothingLost();
    } finally {
      for (const node of nodes) await node[Symbol.asyncDispose]();
    }
  }
}

Deno.test(redisTest(
  "Redis Cluster: the env's slot moves to another master while 50 instances beat and a watcher runs; nothing is lost",
  () => moveSlotWhileBeating(2, 100),
));

Deno.test(redisTest(
  "Redis Cluster: a slow reshard, one key at a time 700 ms apart (longer than the ttl in all), loses nothing and no listing lies",
  () => moveSlotWhileBeating(1, 700),
));

Deno.test(redisTest(
  "Redis Cluster: a TAKEOVER failover while the env's master is frozen loses nothing",
  async () => {
    const INTERVAL = 200;
    const nodes = await startCluster();
    const seeds = nodes.map((node) => `127.0.0.1:${node.port}`);
    try {
      // A replica of the master that holds the env's slot.
      const master = await masterOf(nodes, await slotOf(nodes[0]!, "default"));
      const replica = await addReplica(master);
      nodes.push(replica);
      await using fleet = await clusterFleet(seeds, 20, INTERVAL);
      await sleep(INTERVAL * 2);

      // Freeze the master, and let its replica take over without it.
      await takeOver(master, replica, 2_000);
      await fleet.assertNothingLost();
    } finally {
      for (const node of nodes) await node[Symbol.asyncDispose]();
    }
  },
));

Deno.test(redisTest(
  "Sentinel: a failover while the old master still takes writes evicts no live instance and gives none a new seq",
  async () => {
    // The writes the old master takes between the promotion and the
    // clients' move (up to a Sentinel INFO period) are lost; the new
    // master must not expire the living for the beats it never got.
    await using engine = await redisSentinelEngine(100);
    const members: { registry: Registry; reregistered: number[] }[] = [];
    const drivers = [];
    try {
      for (let i = 0; i < 6; i++) {
        const driver = await engine.connect();
        drivers.push(driver);
        const registry = new Registry({
          driver,
          service: "api",
          id: `api-${i}`,
          heartbeatInterval: 200,
          ttl: 600,
          heartbeatTimeout: 100,
          protection: false,
        });
        const reregistered: number[] = [];
        registry.on(
          "reregistered",
          ({ instance }) => reregistered.push(instance.seq),
        );
        await registry.start();
        members.push({ registry, reregistered });
      }
      const watcherDriver = await engine.connect();
      drivers.push(watcherDriver);
      const watcher = new Registry({
        driver: watcherDriver,
        protection: false,
      });
      const watching = new AbortController();
      const seen = collect(
        watcher.watch("api", { current: true, signal: watching.signal }),
      );
      await until(
        "watching",
        5_000,
        () => Promise.resolve(seen.events.length === 6 || undefined),
      );
      const failover = engine.faults.find((f) =>
        f.name === "Sentinel failover"
      )!;
      let ended = 0;
      await failover.run(Math.random, (_, to) => ended = to);
      await sleep(600 * 3);
      watching.abort();
      await seen.done;
      await watcher.stop();
      assert.ok(ended > 0);
      assert.deepEqual(
        seen.lines().filter((line) => line.startsWith("leave")),
        [],
      );
      for (const m of members) assert.deepEqual(m.reregistered, []);
    } finally {
      for (const m of members) await m.registry.stop();
      for (const driver of drivers) await driver.close();
    }
  },
));
