import assert from "node:assert/strict";
import { RedisServer, redisTest } from "../../_redis_server.ts";
import { runRunner, spawnRunner } from "../../_runner_process.ts";
import { listedStatuses, redisRunnerConfig } from "./_redis_runner.ts";

Deno.test(redisTest(
  "roster maintenance ID on|off: the runner enters maintenance until turned off, or until its ttl passes",
  async () => {
    await using server = await RedisServer.start();
    const file = await redisRunnerConfig(server.url, "m");
    await using runner = spawnRunner(["--config", file]);
    await runner.waitForLine(/^roster: registered id=m/);
    const on = await runRunner([
      "maintenance",
      "m",
      "on",
      "--ttl",
      "1.5",
      "--config",
      file,
    ]);
    assert.equal(on.code, 0, on.stderr);
    assert.match(on.stdout + on.stderr, /'m' is in maintenance/);
    assert.deepEqual(await listedStatuses(file), [["m", "maintenance"]]);
    const off = await runRunner(["maintenance", "m", "off", "--config", file]);
    assert.equal(off.code, 0, off.stderr);
    assert.deepEqual(await listedStatuses(file), [["m", "healthy"]]);
    // The tool that turned it on may crash: it ends by itself.
    const again = await runRunner([
      "maintenance",
      "m",
      "on",
      "--ttl",
      "1",
      "--json",
      "--config",
      file,
    ]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout), {
      id: "m",
      env: "default",
      status: "maintenance",
      on: true,
      ttl: 1000,
    });
    const ended = Date.now();
    while ((await listedStatuses(file))[0]?.[1] === "maintenance") {
      assert.ok(Date.now() - ended < 10_000, "maintenance never ended");
    }
    assert.deepEqual(await listedStatuses(file), [["m", "healthy"]]);
    const usage = await runRunner(["maintenance", "m", "maybe"]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /'maybe' is neither/);
    // A draining instance refuses maintenance, and the command says so.
    const drain = await runRunner([
      "drain",
      "m",
      "--linger",
      "30",
      "--config",
      file,
    ]);
    assert.equal(drain.code, 0, drain.stderr);
    const refused = await runRunner([
      "maintenance",
      "m",
      "on",
      "--config",
      file,
    ]);
    assert.equal(refused.code, 1, refused.stdout);
    assert.match(refused.stderr, /'m' is draining and about to leave/);
    // The drain was the first stop: SIGTERM now is the second, which
    // deregisters at once and exits 130.
    runner.child.kill("SIGTERM");
    assert.equal((await runner.status).code, 130);
  },
));
