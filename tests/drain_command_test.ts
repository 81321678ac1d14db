import assert from "node:assert/strict";
import { readDrainRequest } from "../runner/drain_command.ts";
import { RedisServer, redisTest } from "./_redis_server.ts";
import { runRunner, spawnRunner, writeConfig } from "./_runner_process.ts";

function config(url: string, id: string, extra = ""): Promise<string> {
  return writeConfig(`[cluster]
driver = "redis"
service = "api"
id = "${id}"
heartbeat_interval = "200ms"
ttl = "1s"
${extra}
[cluster.redis]
url = "${url}"
`);
}

async function statuses(file: string): Promise<string[][]> {
  const { code, stdout, stderr } = await runRunner([
    "list",
    "--config",
    file,
    "--all",
    "--json",
  ]);
  assert.equal(code, 0, stderr);
  return (JSON.parse(stdout) as { id: string; status: string }[]).map((
    i,
  ) => [i.id, i.status]);
}

Deno.test("a drain request is read from a message; anything else is not one", () => {
  assert.deepEqual(readDrainRequest({ roster: "drain", linger: 1500 }), {
    linger: 1500,
  });
  assert.deepEqual(readDrainRequest({ roster: "drain" }), {});
  assert.deepEqual(readDrainRequest({ roster: "drain", linger: -1 }), {});
  assert.deepEqual(readDrainRequest({ roster: "drain", linger: "1s" }), {});
  assert.equal(readDrainRequest({ roster: "stop" }), undefined);
  assert.equal(readDrainRequest("drain"), undefined);
  assert.equal(readDrainRequest(null), undefined);
});

redisTest(
  "roster drain ID: the runner drains for the asked linger, then deregisters; a sidecar's command gets SIGTERM and its code passes through",
  async () => {
    await using server = await RedisServer.start();
    const file = await config(server.url, "plain");
    await using plain = spawnRunner(["--config", file]);
    await plain.waitForLine(/^roster: registered id=plain/);
    const asked = await runRunner([
      "drain",
      "plain",
      "--config",
      file,
      "--linger",
      "600ms",
    ]);
    assert.equal(asked.code, 0, asked.stderr);
    assert.match(asked.stdout + asked.stderr, /'plain' is draining/);
    // The request returns once the backend shows it draining, so the
    // listing right after cannot miss it.
    assert.deepEqual(await statuses(file), [["plain", "draining"]]);
    assert.equal((await plain.status).code, 0);
    assert.match(
      plain.stdout.join("\n"),
      /a drain request: id=plain is draining[^\n]*600ms[\s\S]*stopped on a drain request; id=plain deregistered/,
    );
    assert.deepEqual(await statuses(file), []);

    const sideFile = await config(server.url, "side");
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
    assert.deepEqual(JSON.parse(json.stdout), {
      id: "side",
      env: "default",
      draining: true,
    });
    assert.equal((await side.status).code, 9);
    assert.match(
      side.stdout.join("\n"),
      /passing SIGTERM to the command[\s\S]*got-term[\s\S]*exited with 9; id=side deregistered/,
    );
  },
);

redisTest(
  "roster drain refuses what it cannot do: no id, an id not live, an instance no runner listens for",
  async () => {
    await using server = await RedisServer.start();
    const file = await config(server.url, "x");
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
    const { RedisDriver } = await import("../drivers/redis/mod.ts");
    const { Registry } = await import("../mod.ts");
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
);
