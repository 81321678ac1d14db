/**
 * The command line as an operator meets it: help, mistakes, flags instead
 * of a file, tables and JSON, output that a hostile value cannot forge,
 * `status`, and interruption.
 */

import assert from "node:assert/strict";
import { RedisDriver } from "../../../drivers/redis/mod.ts";
import { Registry } from "../../../mod.ts";
import { RedisServer, redisTest } from "../../_redis_server.ts";
import { runRunner, spawnRunner, writeConfig } from "../../_runner_process.ts";

/** What a terminal would obey: ESC, BEL, a right-to-left override. */
const UNSAFE = ["\x1b", "\x07", "\u202e"];

const COMMANDS = [
  "run",
  "check",
  "list",
  "watch",
  "leader",
  "wait",
  "status",
  "drain",
  "maintenance",
  "serve",
];

Deno.test("a mistyped command or flag gets 'did you mean', never parseArgs' advice", async () => {
  const command = await runRunner(["lsit"]);
  assert.equal(command.code, 2);
  assert.match(
    command.stderr,
    /unknown command 'lsit' \(did you mean 'list'\?\)/,
  );

  const flag = await runRunner(["list", "--servce", "api"]);
  assert.equal(flag.code, 2);
  assert.match(
    flag.stderr,
    /unknown flag '--servce' \(did you mean '--service'\?\); see roster list --help/,
  );
  assert.doesNotMatch(flag.stderr, /positional|place it at the end/);

  const elsewhere = await runRunner(["watch", "--min", "2"]);
  assert.equal(elsewhere.code, 2);
  assert.match(elsewhere.stderr, /'--min' is not a flag of 'watch'/);

  const noValue = await runRunner(["list", "--config"]);
  assert.equal(noValue.code, 2);
  assert.match(
    noValue.stderr,
    /'--config' needs a value, such as --config cluster.toml/,
  );

  const format = await runRunner(["list", "-o", "yaml"]);
  assert.equal(format.code, 2);
  assert.match(
    format.stderr,
    /Invalid '--output': 'yaml' is not a format; use table, wide or json/,
  );
});

Deno.test("every command has --help with its flags and an example", async () => {
  for (const name of COMMANDS) {
    const { code, stdout } = await runRunner([name, "--help"]);
    assert.equal(code, 0, name);
    assert.match(stdout, new RegExp(`^Usage: roster (\\[)?${name}`), name);
    assert.match(stdout, /\nFlags:\n/, name);
    assert.match(stdout, new RegExp(`\\nExample:\\n  roster ${name} `), name);
  }
  const top = await runRunner(["--help"]);
  for (const name of COMMANDS) {
    assert.match(top.stdout, new RegExp(`\\n  ${name} `));
  }
});

Deno.test("ROSTER_CONFIG names the file, and check accepts a config that only reads", async () => {
  const file = await writeConfig(`[cluster]\nenv = "staging"\n`);
  const checked = await runRunner(["check"], { ROSTER_CONFIG: file });
  assert.equal(checked.code, 0, checked.stderr);
  assert.match(
    checked.stdout,
    /is valid \(env=staging driver=memory .*\); with no service it can only read, not run/,
  );
  const json = await runRunner(["check", "--json"], { ROSTER_CONFIG: file });
  assert.deepEqual(
    { ...JSON.parse(json.stdout), file: "" },
    {
      valid: true,
      file: "",
      env: "staging",
      driver: "memory",
      interval: "5s",
      ttl: "15s",
    },
  );
  const run = await runRunner(["run"], { ROSTER_CONFIG: file });
  assert.equal(run.code, 2);
  assert.match(run.stderr, /'service' is required to register/);
  const none = await runRunner(["run"]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /missing --config FILE; .*or set ROSTER_CONFIG/);
});

Deno.test(redisTest(
  "list, watch, leader and status take --redis-url without a config file; -o wide adds meta",
  async () => {
    await using server = await RedisServer.start();
    const driver = await RedisDriver.connect({ url: server.url });
    const registry = new Registry({
      driver,
      service: "api",
      id: "api-1",
      version: "1.2.3",
      meta: { zone: "eu-1" },
      heartbeatInterval: 200,
      ttl: 1_000,
    });
    await registry.start();
    try {
      const table = await runRunner(["list", "--redis-url", server.url]);
      assert.equal(table.code, 0, table.stderr);
      assert.match(
        table.stdout,
        /^SERVICE\s+ID\s+STATUS\s+AGE\s+LAST BEAT\s+VERSION\s+ADDR\napi\s+api-1\s+healthy\s+\d+s\s+\d+s ago\s+1\.2\.3\s+-$/,
      );
      const wide = await runRunner([
        "list",
        "--redis-url",
        server.url,
        "-o",
        "wide",
      ]);
      assert.match(wide.stdout, /META\n.*zone=eu-1$/);
      const json = JSON.parse(
        (await runRunner(["list", "--redis-url", server.url, "--json"])).stdout,
      );
      assert.equal(json[0].id, "api-1");
      assert.equal(json[0].late, false);
      assert.equal(json[0].heartbeatInterval, 200);
      const other = await runRunner([
        "list",
        "--redis-url",
        server.url,
        "--env",
        "other",
      ]);
      assert.match(
        other.stdout,
        /no live instances in env 'other'; env\(s\) 'default' have live instances: read one with --env NAME/,
      );
      // With a service, only envs that have it are named.
      const named = async (service: string) =>
        (await runRunner([
          "list",
          "--redis-url",
          server.url,
          "--env",
          "other",
          "-s",
          service,
        ])).stdout;
      assert.match(
        await named("api"),
        /no live instances of 'api' in env 'other'; env\(s\) 'default' have 'api': read one with --env NAME/,
      );
      assert.match(
        await named("nope"),
        /no live instances of 'nope' in env 'other'; another env is read with --env NAME/,
      );
      const leader = await runRunner([
        "leader",
        "--redis-url",
        server.url,
        "-s",
        "api",
        "--json",
      ]);
      assert.equal(JSON.parse(leader.stdout).leader.id, "api-1");

      const status = await runRunner(["status", "--redis-url", server.url]);
      assert.equal(status.code, 0, status.stderr);
      assert.match(
        status.stdout,
        /^backend\s+redis \d+\.\d+\.\d+ at 127\.0\.0\.1:\d+: reachable$/m,
      );
      assert.match(status.stdout, /^latency\s+\d+\.\d+ms$/m);
      assert.match(
        status.stdout,
        /^clock\s+(in step|\d+(ms|s) (ahead of|behind)) /m,
      );
      assert.match(
        status.stdout,
        /^env\s+default: \d+ entries, change log of \d+$/m,
      );
      const statusJson = JSON.parse(
        (await runRunner(["doctor", "--redis-url", server.url, "--json"]))
          .stdout,
      );
      assert.equal(statusJson.ok, true);
      assert.equal(statusJson.driver, "redis");
      assert.ok(statusJson.entries >= 4, JSON.stringify(statusJson));
      assert.ok(statusJson.changeLogLength >= 1);
      assert.equal(typeof statusJson.clockOffsetMs, "number");
    } finally {
      await registry.stop();
      await driver.close();
    }
    await server.stop();
    const down = await runRunner([
      "status",
      "--redis-url",
      server.url,
      "--timeout",
      "2s",
    ]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /^roster: cannot reach the redis backend: /);
    assert.equal(
      down.stderr.trim().split("\n").filter((l) => l.startsWith("roster:"))
        .length,
      1,
    );
  },
));

Deno.test(redisTest(
  "values from the registry cannot drive the terminal: escapes and newlines print as text",
  async () => {
    await using server = await RedisServer.start();
    const driver = await RedisDriver.connect({ url: server.url });
    const hostile = new Registry({
      driver,
      service: "api",
      id: "evil",
      version: "\x1b[2J\x1b]52;c;aGk=\x07",
      addr: "http://x\nFORGED api fake healthy",
      meta: { note: "\u202eevil" },
      heartbeatInterval: 200,
      ttl: 1_000,
    });
    await using watcher = spawnRunner(["watch", "--redis-url", server.url]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await hostile.start();
    try {
      const list = await runRunner([
        "list",
        "--redis-url",
        server.url,
        "-o",
        "wide",
      ]);
      for (const output of [list.stdout]) {
        assert.ok(!UNSAFE.some((c) => output.includes(c)), output);
        assert.match(output, /\\x1b\[2J\\x1b\]52;c;aGk=\\x07/);
        assert.match(output, /http:\/\/x\\nFORGED/);
        assert.ok(
          !output.split("\n").some((line) => line.startsWith("FORGED")),
        );
      }
      await watcher.waitForLine(/ join /);
      const joined = watcher.stdout.find((l) => / join /.test(l)) ?? "";
      assert.ok(!UNSAFE.some((c) => joined.includes(c)), joined);
      assert.match(joined, /\\x1b\[2J/);
      assert.ok(!watcher.stdout.some((line) => line.startsWith("FORGED")));
    } finally {
      watcher.child.kill("SIGINT");
      await watcher.status;
      await hostile.stop();
      await driver.close();
    }
  },
));

Deno.test(redisTest(
  "wait shows progress on a terminal and exits 130 on Ctrl-C",
  async () => {
    await using server = await RedisServer.start();
    // `script` gives the runner a terminal; its output is the terminal's.
    const main = new URL("../../../runner/main.ts", import.meta.url).pathname;
    const wait = new Deno.Command("script", {
      args: [
        "-qefc",
        `${Deno.execPath()} run -A --quiet ${main} wait --redis-url ${server.url} -s api --min 2 --timeout 1500ms`,
        "/dev/null",
      ],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    });
    const timedOut = await wait.output();
    const screen = new TextDecoder().decode(timedOut.stdout);
    assert.equal(timedOut.code, 1, screen);
    assert.match(screen, /0\/2 api instances live, \d+s left/);
    assert.match(
      screen,
      /Timed out after 1\.5s waiting for 2 live instances of 'api'/,
    );

    await using interrupted = spawnRunner([
      "wait",
      "--redis-url",
      server.url,
      "-s",
      "api",
      "--timeout",
      "30s",
    ]);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    interrupted.child.kill("SIGINT");
    assert.equal((await interrupted.status).code, 130);
    assert.match(
      interrupted.stderr.join("\n"),
      /interrupted before 1 instance of 'api' were live/,
    );
  },
));

Deno.test("a port that is not Redis is named as such, not as EPIPE", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  // Answers like a web server, then hangs up.
  const serving = (async () => {
    for await (const conn of listener) {
      await conn.write(
        new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\n\r\n"),
      ).catch(() => {});
      conn.close();
    }
  })();
  try {
    const { code, stderr } = await runRunner([
      "status",
      "--redis-url",
      `redis://127.0.0.1:${port}`,
    ]);
    assert.equal(code, 1);
    assert.match(
      stderr,
      new RegExp(
        `127\\.0\\.0\\.1:${port}: it did not answer like a Redis server`,
      ),
    );
  } finally {
    listener.close();
    await serving.catch(() => {});
  }
});

Deno.test("run --json writes its status lines as JSON", async () => {
  const file = await writeConfig(
    `[cluster]\nservice = "api"\nid = "json-1"\nheartbeat_interval = "200ms"\nttl = "1s"\n`,
  );
  await using runner = spawnRunner(["--config", file, "--json"]);
  const line = await runner.waitForLine(/"event":"registered"/);
  assert.equal(JSON.parse(line).id, "json-1");
  runner.child.kill("SIGTERM");
  assert.equal((await runner.status).code, 0);
  const stopped = runner.stdout.map((l) => JSON.parse(l)).find((l) =>
    l.event === "stopped"
  );
  assert.deepEqual(
    { ...stopped, time: "" },
    {
      time: "",
      event: "stopped",
      signal: "SIGTERM",
      id: "json-1",
      deregistered: true,
    },
  );
});
