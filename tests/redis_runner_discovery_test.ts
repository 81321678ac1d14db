import assert from "node:assert/strict";
import { RedisServer, redisTest } from "./_redis_server.ts";
import { runRunner, spawnRunner, writeConfig } from "./_runner_process.ts";

const TTL_MS = 1000;

function config(url: string, id?: string): Promise<string> {
  return writeConfig(`[cluster]
driver = "redis"
service = "api"
${id ? `id = "${id}"` : ""}
heartbeat_interval = "250ms"
ttl = "1s"
[cluster.redis]
url = "${url}"
`);
}

Deno.test(redisTest(
  "a watcher process sees another process join, deregister and crash",
  async () => {
    await using server = await RedisServer.start();
    const watcherConfig = await config(server.url);
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
      await config(server.url, "clean"),
    ]);
    await clean.waitForLine(/registered/);
    await watcher.waitForLine(/"join".*"clean"/);
    clean.child.kill("SIGTERM");
    await clean.status;
    await watcher.waitForLine(/"leave".*"clean"/);

    await using crashed = spawnRunner([
      "--config",
      await config(server.url, "crashed"),
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
  "leader names the oldest instance; wait exits 0 when enough are live and 1 on timeout",
  async () => {
    await using server = await RedisServer.start();
    const file = await config(server.url);
    const none = await runRunner([
      "leader",
      "--config",
      file,
      "--service",
      "api",
    ]);
    assert.equal(none.code, 1);
    assert.match(none.stdout, /api has no live instance, so no leader/);

    await using first = spawnRunner([
      "--config",
      await config(server.url, "first"),
    ]);
    await first.waitForLine(/registered/);
    const timedOut = await runRunner([
      "wait",
      "--config",
      file,
      "--service",
      "api",
      "--min",
      "2",
      "--timeout",
      "300ms",
    ]);
    assert.equal(timedOut.code, 1);
    assert.match(
      timedOut.stderr,
      /Timed out after 300ms waiting for 2 live instances of 'api' \(1 live\)/,
    );

    const waiting = runRunner([
      "wait",
      "--config",
      file,
      "--service",
      "api",
      "--min",
      "2",
      "--timeout",
      "20s",
      "--json",
    ]);
    await using second = spawnRunner([
      "--config",
      await config(server.url, "second"),
    ]);
    await second.waitForLine(/registered/);
    const satisfied = await waiting;
    assert.equal(satisfied.code, 0, satisfied.stderr);
    assert.deepEqual(
      JSON.parse(satisfied.stdout).map((i: { id: string }) => i.id),
      ["first", "second"],
    );

    const leader = await runRunner([
      "leader",
      "--config",
      file,
      "--service",
      "api",
      "--json",
    ]);
    assert.equal(leader.code, 0);
    assert.equal(JSON.parse(leader.stdout).leader.id, "first");
    first.child.kill("SIGTERM");
    await first.status;
    const next = await runRunner([
      "leader",
      "--config",
      file,
      "--service",
      "api",
    ]);
    assert.match(next.stdout, /^second leads api \(seq \d+, addr -\)/);

    const usage = await runRunner(["leader", "--config", file]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /'leader' needs --service NAME/);
    const badMin = await runRunner([
      "wait",
      "--config",
      file,
      "--service",
      "api",
      "--min",
      "zero",
    ]);
    assert.equal(badMin.code, 2);
    assert.match(badMin.stderr, /Invalid '--min': 'zero'/);
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
    const { RedisDriver } = await import("../drivers/redis/mod.ts");
    const { registration } = await import("./_registration.ts");
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
