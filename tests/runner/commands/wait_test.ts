import assert from "node:assert/strict";
import { RedisServer, redisTest } from "../../_redis_server.ts";
import { runRunner, spawnRunner } from "../../_runner_process.ts";
import { redisRunnerConfig } from "./_redis_runner.ts";

Deno.test(redisTest(
  "wait exits 0 with the instances once enough are live, 1 on timeout, and 2 on a bad --min",
  async () => {
    await using server = await RedisServer.start();
    const file = await redisRunnerConfig(server.url);
    await using first = spawnRunner([
      "--config",
      await redisRunnerConfig(server.url, "first"),
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
      await redisRunnerConfig(server.url, "second"),
    ]);
    await second.waitForLine(/registered/);
    const satisfied = await waiting;
    assert.equal(satisfied.code, 0, satisfied.stderr);
    assert.deepEqual(
      JSON.parse(satisfied.stdout).map((i: { id: string }) => i.id),
      ["first", "second"],
    );

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
