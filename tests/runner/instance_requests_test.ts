import assert from "node:assert/strict";
import { readInstanceRequest } from "../../runner/instance_requests.ts";
import { RedisServer, redisTest } from "../_redis_server.ts";
import { runRunner, spawnRunner, writeConfig } from "../_runner_process.ts";

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

Deno.test("a request is read from a message; anything else is not one", () => {
  const read = readInstanceRequest;
  assert.deepEqual(read({ roster: "drain", linger: 1500 }), {
    kind: "drain",
    linger: 1500,
  });
  assert.deepEqual(read({ roster: "drain" }), { kind: "drain" });
  assert.deepEqual(read({ roster: "drain", linger: -1 }), { kind: "drain" });
  assert.deepEqual(read({ roster: "drain", linger: "1s" }), { kind: "drain" });
  assert.deepEqual(read({ roster: "maintenance", on: true, ttl: 60_000 }), {
    kind: "maintenance",
    on: true,
    ttl: 60_000,
  });
  assert.deepEqual(read({ roster: "maintenance", on: false, ttl: 0 }), {
    kind: "maintenance",
    on: false,
  });
  assert.equal(read({ roster: "maintenance" }), undefined, "on or off");
  assert.equal(read({ roster: "stop" }), undefined);
  assert.equal(read("drain"), undefined);
  assert.equal(read(null), undefined);
});

Deno.test(redisTest(
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
    const { RedisDriver } = await import("../../drivers/redis/mod.ts");
    const { Registry } = await import("../../mod.ts");
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

Deno.test(redisTest(
  "roster maintenance ID on|off: the runner enters maintenance until turned off, or until its ttl passes",
  async () => {
    await using server = await RedisServer.start();
    const file = await config(server.url, "m");
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
    assert.deepEqual(await statuses(file), [["m", "maintenance"]]);
    const off = await runRunner(["maintenance", "m", "off", "--config", file]);
    assert.equal(off.code, 0, off.stderr);
    assert.deepEqual(await statuses(file), [["m", "healthy"]]);
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
    while ((await statuses(file))[0]?.[1] === "maintenance") {
      assert.ok(Date.now() - ended < 10_000, "maintenance never ended");
    }
    assert.deepEqual(await statuses(file), [["m", "healthy"]]);
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
