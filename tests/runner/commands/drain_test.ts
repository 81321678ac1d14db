import assert from "node:assert/strict";
import { RedisServer, redisTest } from "../../_redis_server.ts";
import { runRunner, spawnRunner } from "../../_runner_process.ts";
import { listedStatuses, redisRunnerConfig } from "./_redis_runner.ts";

Deno.test(redisTest(
  "roster drain ID: the runner drains for the asked linger, then deregisters; a sidecar's command gets SIGTERM and its code passes through",
  async () => {
    await using server = await RedisServer.start();
    const file = await redisRunnerConfig(server.url, "plain");
    await using plain = spawnRunner(["--config", file]);
    await plain.waitForLine(/^roster: registered id=plain/);
    const asked = await runRunner([
      "drain",
      "plain",
      "--config",
      file,
      "--linger",
      "3s",
    ]);
    assert.equal(asked.code, 0, asked.stderr);
    assert.match(asked.stdout + asked.stderr, /'plain' is draining/);
    // The request returns once the backend shows it draining, so the
    // listing right after cannot miss it (the linger outlasts a new
    // process's start on a loaded machine).
    assert.deepEqual(await listedStatuses(file), [["plain", "draining"]]);
    assert.equal((await plain.status).code, 0);
    assert.match(
      plain.stdout.join("\n"),
      /a drain request: id=plain is draining[^\n]*3s[\s\S]*stopped on a drain request; id=plain deregistered/,
    );
    assert.deepEqual(await listedStatuses(file), []);

    const sideFile = await redisRunnerConfig(server.url, "side");
    await using side = spawnRunner([
      "--config",
      sideFile,
      "--",
      "sh",
      "-c",
      "trap 'echo got-term; exit 9' TERM; while true; do sleep 0.05; done",
    ]);
    await side.waitForLine(/^roster: registered id=side/);
    const json = await runRunner([
      "drain",
      "side",
      "--config",
      sideFile,
      "--json",
    ]);
    assert.equal(json.code, 0, json.stderr);
    // With no drain_timeout it may be gone by the time the backend is read.
    const answer = JSON.parse(json.stdout);
    assert.deepEqual({ ...answer, status: "-" }, {
      id: "side",
      env: "default",
      status: "-",
    });
    assert.ok(["draining", "gone"].includes(answer.status), answer.status);
    assert.equal((await side.status).code, 9);
    assert.match(
      side.stdout.join("\n"),
      /passing SIGTERM to the command[\s\S]*got-term[\s\S]*exited with 9; id=side deregistered/,
    );
  },
));

Deno.test(redisTest(
  "roster drain refuses what it cannot do: no id, an id not live, an instance no runner listens for",
  async () => {
    await using server = await RedisServer.start();
    const file = await redisRunnerConfig(server.url, "x");
    const none = await runRunner(["drain", "--config", file]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /'drain' needs the id of the instance/);
    const bad = await runRunner(["drain", "not an id", "--config", file]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Invalid 'ID'/);
    const missing = await runRunner(["drain", "ghost", "--config", file]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no live instance 'ghost' in env 'default'/);
    // A registry in a library, not a runner: live, but nobody takes requests.
    const { RedisDriver } = await import("../../../drivers/redis/mod.ts");
    const { Registry } = await import("../../../mod.ts");
    const driver = await RedisDriver.connect({ url: server.url });
    await using library = new Registry({
      driver,
      service: "api",
      id: "library",
      heartbeatInterval: "200ms",
      ttl: "1s",
    });
    await library.start();
    const unheard = await runRunner(["drain", "library", "--config", file]);
    assert.equal(unheard.code, 1);
    assert.match(unheard.stderr, /no runner of 'library' listens/);
    await library.stop();
    await driver.close();
  },
));
