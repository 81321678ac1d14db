import assert from "node:assert/strict";
import { RedisServer, redisTest } from "../../_redis_server.ts";
import { spawnRunner } from "../../_runner_process.ts";
import { redisRunnerConfig } from "./_redis_runner.ts";

const TTL_MS = 1000;

Deno.test(redisTest(
  "a watcher process sees another process join, deregister and crash",
  async () => {
    await using server = await RedisServer.start();
    const watcherConfig = await redisRunnerConfig(server.url);
    await using watcher = spawnRunner([
      "watch",
      "--config",
      watcherConfig,
      "--service",
      "api",
      "--json",
    ]);
    const events = () =>
      watcher.stdout.filter((l) => l.startsWith("{")).map((l) => {
        const e = JSON.parse(l);
        return `${e.type} ${e.reason} ${e.instance.id}`;
      });
    await using clean = spawnRunner([
      "--config",
      await redisRunnerConfig(server.url, "clean"),
    ]);
    await clean.waitForLine(/registered/);
    await watcher.waitForLine(/"join".*"clean"/);
    clean.child.kill("SIGTERM");
    await clean.status;
    await watcher.waitForLine(/"leave".*"clean"/);

    await using crashed = spawnRunner([
      "--config",
      await redisRunnerConfig(server.url, "crashed"),
    ]);
    await crashed.waitForLine(/registered/);
    await watcher.waitForLine(/"join".*"crashed"/);
    crashed.child.kill("SIGKILL");
    const killedAt = Date.now();
    await crashed.status;
    await watcher.waitForLine(/"leave".*"crashed"/, TTL_MS + 3_000);
    const seenAfter = Date.now() - killedAt;
    assert.ok(
      seenAfter <= TTL_MS + 1_000,
      `the crash was reported ${seenAfter}ms after the kill`,
    );
    // "clean" may already be live when the watcher takes its first snapshot.
    assert.deepEqual(
      events().map((e) => e.replace("join current", "join registered")),
      [
        "join registered clean",
        "update health clean", // it drains before it leaves
        "leave deregistered clean",
        "join registered crashed",
        "leave expired crashed",
      ],
    );
    watcher.child.kill("SIGINT");
    assert.equal((await watcher.status).code, 0);
  },
));

Deno.test(redisTest(
  "roster watch tells when eviction protection holds a crashed fleet, and when its bound passes",
  async () => {
    await using server = await RedisServer.start();
    await using watcher = spawnRunner([
      "watch",
      "--redis-url",
      server.url,
      "--service",
      "api",
      "--json",
    ]);
    const { RedisDriver } = await import("../../../drivers/redis/mod.ts");
    const { registration } = await import("../../_registration.ts");
    const driver = await RedisDriver.connect({ url: server.url });
    try {
      // One that stays: once the watcher reports it, it is watching.
      await driver.register(registration({ id: "stays", ttl: 60_000 }));
      await watcher.waitForLine(/"stays"/);
      for (const id of ["a", "b", "c", "d"]) {
        await driver.register(
          registration({ id, ttl: 400, heartbeatInterval: 100 }),
        );
      }
      await watcher.waitForLine(/"type":"protection".*"on":true/, 5_000);
      await watcher.waitForLine(/"reason":"bound passed"/, 5_000);
      const lines = watcher.stdout.filter((l) => l.startsWith("{")).map((l) =>
        JSON.parse(l)
      );
      // In order: two leaves, protection on, the held two's leaves, off.
      assert.deepEqual(
        lines.map((l) =>
          l.type === "protection" ? `protection ${l.on}` : `${l.type}`
        ),
        [
          "join",
          "join",
          "join",
          "join",
          "join",
          "leave",
          "leave",
          "protection true",
          "leave",
          "leave",
          "protection false",
        ],
      );
      const protection = lines.filter((l) => l.type === "protection");
      assert.equal(protection.length, 2);
      assert.equal(protection[1].held.length, 2);
      assert.equal(
        lines.filter((l) => l.type === "leave" && l.reason === "expired")
          .length,
        4,
      );
    } finally {
      await driver.close();
      watcher.child.kill("SIGINT");
      await watcher.status;
    }
  },
));
