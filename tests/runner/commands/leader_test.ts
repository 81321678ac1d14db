import assert from "node:assert/strict";
import { RedisServer, redisTest } from "../../_redis_server.ts";
import { runRunner, spawnRunner } from "../../_runner_process.ts";
import { redisRunnerConfig } from "./_redis_runner.ts";

Deno.test(redisTest(
  "leader names the oldest instance, the next one once it stops, and exits 1 when there is none",
  async () => {
    await using server = await RedisServer.start();
    const file = await redisRunnerConfig(server.url);
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
      await redisRunnerConfig(server.url, "first"),
    ]);
    await first.waitForLine(/registered/);
    await using second = spawnRunner([
      "--config",
      await redisRunnerConfig(server.url, "second"),
    ]);
    await second.waitForLine(/registered/);
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
  },
));
