import assert from "node:assert/strict";
import denoJson from "../../deno.json" with { type: "json" };
import { runRunner, spawnRunner, writeConfig } from "../_runner_process.ts";

const CONFIG = `[cluster]
service = "api"
id = "api-e2e"
heartbeat_interval = "200ms"
ttl = "1s"
[cluster.meta]
zone = "test"
`;

Deno.test("run registers, prints one startup line, and deregisters on SIGTERM with exit 0", async () => {
  const config = await writeConfig(CONFIG);
  await using runner = spawnRunner(["--config", config]);
  const line = await runner.waitForLine(/^roster: registered/);
  assert.match(
    line,
    /^roster: registered id=api-e2e service=api env=default driver=memory interval=200ms ttl=1s seq=\d+$/,
  );
  runner.child.kill("SIGTERM");
  const status = await runner.status;
  assert.equal(status.code, 0);
  assert.match(
    runner.stdout.join("\n"),
    /stopped on SIGTERM; id=api-e2e deregistered/,
  );
  await Deno.remove(config);
});

Deno.test("run stops the same way on SIGINT", async () => {
  const config = await writeConfig(CONFIG);
  await using runner = spawnRunner(["run", "-c", config]);
  await runner.waitForLine(/^roster: registered/);
  runner.child.kill("SIGINT");
  assert.equal((await runner.status).code, 0);
  assert.match(
    runner.stdout.join("\n"),
    /stopped on SIGINT; id=api-e2e deregistered/,
  );
  await Deno.remove(config);
});

Deno.test("a second SIGINT during the drain deregisters on the way out, and every line says so", async () => {
  const config = await writeConfig(
    CONFIG.replace('ttl = "1s"', 'ttl = "1s"\ndrain_timeout = "30s"'),
  );
  await using runner = spawnRunner([
    "run",
    "-c",
    config,
    "--log-level",
    "info",
  ]);
  await runner.waitForLine(/^roster: registered/);
  runner.child.kill("SIGINT");
  await runner.waitForLine(/draining/);
  runner.child.kill("SIGINT");
  assert.equal((await runner.status).code, 130);
  const said = [...runner.stdout, ...runner.stderr].join("\n");
  assert.doesNotMatch(said, /not deregistered/);
  await Deno.remove(config);
});

Deno.test("every config error exits 2 with a message naming the key, and registers nothing", async (t) => {
  const cases: [string, string | null, RegExp][] = [
    ["missing file", null, /Cannot read config file '.*': it does not exist/],
    [
      "bad TOML",
      `[cluster\nservice = "api"`,
      /Invalid TOML in '.*' at line 1, column 9/,
    ],
    [
      "ttl not above the interval",
      `[cluster]\nservice = "api"\nheartbeat_interval = "10s"\nttl = "5s"`,
      /'ttl' \(5s\) must be greater than 'heartbeat_interval' \(10s\)/,
    ],
    [
      "unknown driver",
      `[cluster]\nservice = "api"\ndriver = "consul"`,
      /'consul' is not a driver/,
    ],
    [
      "unknown key",
      `[cluster]\nservice = "api"\nservise = "x"`,
      /Unknown key 'cluster.servise' \(did you mean 'service'\?\)/,
    ],
    ["bad id", `[cluster]\nservice = "api"\nid = "a b"`, /Invalid 'id': 'a b'/],
    [
      "bad duration",
      `[cluster]\nservice = "api"\nttl = "forever"`,
      /Invalid 'ttl': 'forever' is not a duration/,
    ],
    [
      "no service for run",
      `[cluster]\nenv = "x"`,
      /'service' is required to register/,
    ],
  ];
  for (const [name, toml, message] of cases) {
    await t.step(name, async () => {
      const config = toml === null
        ? "/nonexistent/roster.toml"
        : await writeConfig(toml);
      const { code, stdout, stderr } = await runRunner(["--config", config]);
      assert.equal(code, 2, stderr);
      assert.match(stderr, message);
      assert.doesNotMatch(stdout, /registered/);
      if (toml !== null) {
        // A config without a service is valid for reading, so check takes it.
        assert.equal(
          (await runRunner(["check", "--config", config])).code,
          name === "no service for run" ? 0 : 2,
        );
        await Deno.remove(config);
      }
    });
  }
});

Deno.test("usage errors exit 2; --help and --version exit 0", async () => {
  const noConfig = await runRunner([]);
  assert.equal(noConfig.code, 2);
  assert.match(noConfig.stderr, /missing --config FILE/);
  const unknown = await runRunner(["frobnicate", "--config", "x.toml"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command 'frobnicate'/);
  const badFlag = await runRunner(["--bogus"]);
  assert.equal(badFlag.code, 2);
  const help = await runRunner(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage:/);
  const version = await runRunner(["--version"]);
  assert.equal(version.stdout.trim(), `roster ${denoJson.version}`);
});

Deno.test("an environment variable overrides the file, and a bad one exits 2", async () => {
  const config = await writeConfig(CONFIG);
  const ok = await runRunner(["check", "--config", config], {
    ROSTER_TTL: "3s",
  });
  assert.match(ok.stdout, /ttl=3s/);
  const bad = await runRunner(["check", "--config", config], {
    ROSTER_TTL: "100ms",
  });
  assert.equal(bad.code, 2);
  assert.match(
    bad.stderr,
    /'ttl' \(100ms\) must be greater than 'heartbeat_interval' \(200ms\).*\(set by ROSTER_TTL\)/,
  );
  await Deno.remove(config);
});

Deno.test("--log-format json writes one JSON object a line to stderr; --log-level filters", async () => {
  const config = await writeConfig(CONFIG);
  await using runner = spawnRunner([
    "--config",
    config,
    "--log-format",
    "json",
  ]);
  await runner.waitForLine(/"event":"registered"/);
  runner.child.kill("SIGTERM");
  await runner.status;
  // Every line is JSON, stdout included.
  for (const line of [...runner.stdout, ...runner.stderr].filter(Boolean)) {
    JSON.parse(line);
  }
  assert.ok(
    runner.stdout.some((l) => JSON.parse(l).event === "stopped"),
    runner.stdout.join("\n"),
  );
  const records = runner.stderr.map((l) => JSON.parse(l));
  assert.ok(
    records.some((r) => r.level === "INFO" && /Registered/.test(r.message)),
    runner.stderr.join("\n"),
  );
  await using quiet = spawnRunner(["--config", config, "--log-level", "error"]);
  await quiet.waitForLine(/^roster: registered/);
  quiet.child.kill("SIGTERM");
  await quiet.status;
  assert.deepEqual(quiet.stderr.filter(Boolean), []);
  const bad = await runRunner([
    "check",
    "--config",
    config,
    "--log-level",
    "loud",
  ]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Invalid '--log-level': 'loud' is not a level/);
  await Deno.remove(config);
});

Deno.test("a status server port in use gives one line and exit 1, and registers nothing", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  const config = await writeConfig(
    `${CONFIG}[cluster.http]\nlisten = "127.0.0.1:${port}"\n`,
  );
  const { code, stdout, stderr } = await runRunner(["--config", config]);
  assert.equal(code, 1);
  assert.equal(
    stderr.trim(),
    `roster: cannot start the status server on 127.0.0.1:${port}: the port is in use; pick another 'http.listen'`,
  );
  assert.doesNotMatch(stdout, /registered/);
});
