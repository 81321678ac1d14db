import assert from "node:assert/strict";
import { RedisServer, redisTest, sleep } from "../../_redis_server.ts";
import { runRunner, spawnRunner, writeConfig } from "../../_runner_process.ts";

const TTL_MS = 1000;

function config(url: string, id: string, extra = ""): Promise<string> {
  return writeConfig(`[cluster]
driver = "redis"
service = "api"
id = "${id}"
heartbeat_interval = "250ms"
ttl = "1s"
${extra}
[cluster.redis]
url = "${url}"
`);
}

async function listIds(
  file: string,
  env: Record<string, string> = {},
): Promise<string[]> {
  const { code, stdout, stderr } = await runRunner([
    "list",
    "--config",
    file,
    "--json",
  ], env);
  assert.equal(code, 0, stderr);
  return (JSON.parse(stdout) as { id: string }[]).map((i) => i.id);
}

Deno.test(redisTest(
  "two runners sharing one Redis see each other; SIGTERM removes one at once",
  async () => {
    await using server = await RedisServer.start();
    const a = await config(server.url, "api-a");
    const b = await config(server.url, "api-b");
    await using runnerA = spawnRunner(["--config", a]);
    await runnerA.waitForLine(/^roster: registered id=api-a .*driver=redis/);
    await using runnerB = spawnRunner(["--config", b]);
    await runnerB.waitForLine(/^roster: registered id=api-b/);
    assert.deepEqual(await listIds(a), ["api-a", "api-b"]);

    const table = await runRunner(["list", "--config", a, "--service", "api"]);
    assert.match(
      table.stdout,
      /^SERVICE\s+ID\s+STATUS\s+AGE\s+LAST BEAT\s+VERSION\s+ADDR\n/,
    );
    assert.match(table.stdout, /api\s+api-a\s+healthy/);

    runnerB.child.kill("SIGTERM");
    assert.equal((await runnerB.status).code, 0);
    assert.match(runnerB.stdout.join("\n"), /id=api-b deregistered/);
    assert.deepEqual(
      await listIds(a),
      ["api-a"],
      "gone at once, not after the ttl",
    );
  },
));

Deno.test(
  redisTest(
    "a SIGKILLed runner is gone from list within ttl + 1s",
    async () => {
      await using server = await RedisServer.start();
      const survivor = await config(server.url, "api-survivor");
      const victim = await config(server.url, "api-victim");
      await using runnerA = spawnRunner(["--config", survivor]);
      await runnerA.waitForLine(/^roster: registered/);
      await using runnerB = spawnRunner(["--config", victim]);
      await runnerB.waitForLine(/^roster: registered/);
      assert.deepEqual(await listIds(survivor), ["api-survivor", "api-victim"]);
      runnerB.child.kill("SIGKILL");
      const killedAt = Date.now();
      await runnerB.status;
      let gone = false;
      while (Date.now() - killedAt < TTL_MS + 1000) {
        if (!(await listIds(survivor)).includes("api-victim")) {
          gone = true;
          break;
        }
        await sleep(50);
      }
      assert.ok(gone, "the killed runner was still listed after ttl + 1s");
      assert.deepEqual(await listIds(survivor), ["api-survivor"]);
    },
  ),
);

Deno.test(redisTest(
  "a second runner with the same id exits 1 and the first keeps it",
  async () => {
    await using server = await RedisServer.start();
    const file = await config(server.url, "api-dup");
    await using first = spawnRunner(["--config", file]);
    await first.waitForLine(/^roster: registered/);
    const second = await runRunner(["--config", file]);
    assert.equal(second.code, 1);
    assert.match(
      second.stderr,
      /id 'api-dup' in env 'default' is held by another live owner/,
    );
    assert.deepEqual(await listIds(file), ["api-dup"]);
  },
));

Deno.test(redisTest(
  "an unreachable Redis fails run and list with exit 1 and never prints the password",
  async () => {
    await using server = await RedisServer.start();
    const url = `redis://user:hunter2secret@127.0.0.1:${server.port}`;
    await server.stop();
    const file = await config(url, "api-x");
    for (
      const args of [["--config", file], [
        "list",
        "--config",
        file,
        "--timeout",
        "500ms",
      ]]
    ) {
      const result = await runRunner(args);
      assert.equal(result.code, 1, result.stderr);
      assert.match(
        result.stderr,
        /Cannot connect to Redis at redis:\/\/user:\*\*\*@127\.0\.0\.1/,
      );
      assert.doesNotMatch(result.stderr + result.stdout, /hunter2secret/);
    }
  },
));

Deno.test(redisTest(
  "the Redis URL and password can come from the environment",
  async () => {
    await using server = await RedisServer.start([
      "--requirepass",
      "s3cret-pw",
    ]);
    const file = await writeConfig(
      `[cluster]\ndriver = "redis"\nservice = "api"\nid = "api-env"\nheartbeat_interval = "250ms"\nttl = "1s"\n`,
    );
    const env = {
      ROSTER_REDIS_URL: server.url,
      ROSTER_REDIS_PASSWORD: "s3cret-pw",
    };
    await using runner = spawnRunner(["--config", file], env);
    await runner.waitForLine(/^roster: registered id=api-env/);
    assert.deepEqual(await listIds(file, env), ["api-env"]);
    const wrong = await runRunner(["list", "--config", file, "--json"], {
      ...env,
      ROSTER_REDIS_PASSWORD: "nope-wrong",
    });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /WRONGPASS|invalid username-password/);
    assert.doesNotMatch(wrong.stderr, /nope-wrong|s3cret-pw/);
  },
));

Deno.test(redisTest(
  "check validates [cluster.redis] and exits 2 on a bad table",
  async (t) => {
    const cases: [string, string, RegExp][] = [
      [
        "bad scheme",
        `url = "http://127.0.0.1:6379"`,
        /Invalid 'redis.url': 'http:\/\/127.0.0.1:6379\/?' must look like redis:\/\//,
      ],
      [
        "password never echoed",
        `url = "redis://u:topsecret@host:port"`,
        /Invalid 'redis.url': the value must look like/,
      ],
      [
        "unknown key",
        `urll = "redis://x"`,
        /Unknown key 'cluster.redis.urll' \(did you mean 'url'\?\)/,
      ],
      [
        "sentinels without name",
        `sentinels = ["127.0.0.1:26379"]`,
        /'redis.sentinels' is set without 'redis.name'/,
      ],
      [
        "bad node",
        `cluster_nodes = ["nohost"]`,
        /Invalid 'redis.cluster_nodes': an array must be a non-empty list of "host:port"/,
      ],
      [
        "both topologies",
        `sentinels = ["a:1"]\nname = "m"\ncluster_nodes = ["b:2"]`,
        /both set/,
      ],
      [
        "prefix with braces",
        `prefix = "a{b}"`,
        /must not contain '\{' or '\}'/,
      ],
    ];
    for (const [name, table, message] of cases) {
      await t.step(name, async () => {
        const file = await writeConfig(
          `[cluster]\ndriver = "redis"\nservice = "api"\n[cluster.redis]\n${table}\n`,
        );
        const { code, stderr } = await runRunner(["check", "--config", file]);
        assert.equal(code, 2, stderr);
        assert.match(stderr, message);
        assert.doesNotMatch(stderr, /topsecret/);
        await Deno.remove(file);
      });
    }
  },
));
