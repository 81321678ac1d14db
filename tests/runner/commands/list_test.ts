import assert from "node:assert/strict";
import { RedisServer, redisTest } from "../../_redis_server.ts";
import { runRunner, writeConfig } from "../../_runner_process.ts";

const CONFIG = `[cluster]
service = "api"
id = "api-e2e"
heartbeat_interval = "200ms"
ttl = "1s"
`;

Deno.test("list with the memory driver says only the current process is seen", async () => {
  const config = await writeConfig(CONFIG);
  const table = await runRunner(["list", "--config", config]);
  assert.equal(table.code, 0);
  assert.match(table.stderr, /memory driver lives inside one process/);
  assert.match(table.stdout, /no live instances/);
  const json = await runRunner([
    "list",
    "--config",
    config,
    "--service",
    "api",
    "--json",
  ]);
  assert.equal(json.code, 0);
  assert.deepEqual(JSON.parse(json.stdout), []);
  await Deno.remove(config);
});

Deno.test(redisTest(
  "list started during a pause longer than a command may take waits it out within --timeout, and says why when it cannot",
  async () => {
    await using server = await RedisServer.start();
    const file = await writeConfig(`[cluster]
driver = "redis"
heartbeat_interval = "200ms"
ttl = "1s"
[cluster.redis]
url = "${server.url}"
`);
    const admin = await server.admin();
    // Commands time out after 100 ms (the heartbeat timeout); the pause is
    // 1.5 s, longer than any one try.
    await admin.call("CLIENT", "PAUSE", 1_500, "ALL");
    const waited = await runRunner([
      "list",
      "--config",
      file,
      "--timeout",
      "10s",
      "--json",
    ]);
    assert.equal(waited.code, 0, waited.stderr);
    assert.deepEqual(JSON.parse(waited.stdout), []);

    await admin.call("CLIENT", "PAUSE", 3_000, "ALL");
    const gaveUp = await runRunner([
      "list",
      "--config",
      file,
      "--timeout",
      "500ms",
    ]);
    assert.equal(gaveUp.code, 1);
    assert.match(
      gaveUp.stderr,
      /could not read the registry within 500ms|timed out/i,
    );
  },
));
