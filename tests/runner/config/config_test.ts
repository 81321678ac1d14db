import assert from "node:assert/strict";
import { loadConfig, parseConfig } from "../../../runner/config/config.ts";
import { ConfigError } from "../../../errors.ts";
import { Registry } from "../../../mod.ts";
import { MemoryDriver } from "../../../testing/mod.ts";
import { captureLogs } from "../../_log_capture.ts";

const VALID = `
[cluster]
driver = "memory"
id = "api-1"
service = "api"
env = "production"
version = "1.0.0"
addr = "http://127.0.0.1:8080"
heartbeat_interval = "5s"
ttl = 15

[cluster.meta]
zone = "eu-1"
`;

Deno.test("a full config parses, with numbers as seconds", () => {
  const config = parseConfig(VALID, "cluster.toml");
  assert.equal(config.driver, "memory");
  assert.deepEqual(config.options, {
    id: "api-1",
    service: "api",
    env: "production",
    version: "1.0.0",
    addr: "http://127.0.0.1:8080",
    heartbeatInterval: 5000,
    ttl: 15000,
    meta: { zone: "eu-1" },
  });
  assert.equal(config.resolved.ttl, 15000);
});

Deno.test("other top-level tables of a shared app config are left alone", () => {
  const config = parseConfig(`[database]\nurl = "x"\n${VALID}`, "app.toml");
  assert.equal(config.resolved.service, "api");
});

Deno.test("environment variables override file values, validated after merging", () => {
  const config = parseConfig(VALID, "cluster.toml", {
    ROSTER_TTL: "30s",
    ROSTER_HEARTBEAT_INTERVAL: "10",
    ROSTER_META_ZONE: "eu-2",
    ROSTER_META_RACK: "r1",
    ROSTER_SERVICE: "worker",
    PATH: "/usr/bin",
  });
  assert.equal(config.resolved.ttl, 30_000);
  assert.equal(config.resolved.heartbeatInterval, 10_000);
  assert.equal(config.resolved.service, "worker");
  assert.deepEqual(config.resolved.meta, { zone: "eu-2", rack: "r1" });
  // Merged values are checked together: 20s is not above an env interval of 30s.
  assert.throws(
    () =>
      parseConfig(VALID, "cluster.toml", { ROSTER_HEARTBEAT_INTERVAL: "30s" }),
    /'ttl' \(15s\) must be greater than 'heartbeat_interval' \(30s\)/,
  );
  assert.throws(
    () => parseConfig(VALID, "cluster.toml", { ROSTER_TTL: "soon" }),
    /'soon' is not a duration.*\(set by ROSTER_TTL\)/,
  );
});

Deno.test("a variable that names no key, an empty one, or a count not in digits is refused, naming it", () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ ROSTER_: "x" }, /Unknown environment variable 'ROSTER_'/],
    [{ ROSTER_META_ZONE: "" }, /'ROSTER_META_ZONE' is empty/],
    [
      {
        ROSTER_HEALTH_HTTP: "http://127.0.0.1:1/",
        ROSTER_HEALTH_FAILURES: "0x10",
      },
      /'health\.failures'.*'0x10'.*\(set by ROSTER_HEALTH_FAILURES\)/,
    ],
    [
      {
        ROSTER_HEALTH_HTTP: "http://127.0.0.1:1/",
        ROSTER_HEALTH_FAILURES: "1e1",
      },
      /'health\.failures'.*'1e1'/,
    ],
  ];
  for (const [env, message] of cases) {
    assert.throws(
      () => parseConfig(VALID, "cluster.toml", env),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError, String(error));
        assert.match(error.message, message);
        return true;
      },
    );
  }
  // Digits still count, as they always did.
  const config = parseConfig(VALID, "cluster.toml", {
    ROSTER_HEALTH_HTTP: "http://127.0.0.1:1/",
    ROSTER_HEALTH_FAILURES: "3",
  });
  assert.ok(config.health);
});

Deno.test("a config can come from the environment alone", () => {
  const config = parseConfig("", "empty.toml", { ROSTER_SERVICE: "api" });
  assert.equal(config.resolved.service, "api");
});

Deno.test("every bad config is a ConfigError naming the file, the key and the fix", async (t) => {
  const cases: [
    name: string,
    toml: string,
    field: string | undefined,
    message: RegExp,
  ][] = [
    [
      "bad TOML",
      `[cluster\nservice = "api"`,
      undefined,
      /Invalid TOML in 'c.toml' at line 1, column 9/,
    ],
    [
      "duplicate key",
      `[cluster]\nttl = 1\nttl = 2`,
      undefined,
      /at line 3, column 1/,
    ],
    [
      "no cluster table",
      `[other]\na = 1`,
      "cluster",
      /'c.toml' has no \[cluster\] table/,
    ],
    [
      "cluster not a table",
      `cluster = 5`,
      "cluster",
      /expected a table, got 5/,
    ],
    [
      "unknown key, with a suggestion",
      `[cluster]\nservice = "api"\nttll = "5s"`,
      "ttll",
      /Unknown key 'cluster.ttll' \(did you mean 'ttl'\?\)/,
    ],
    [
      "unknown key, far from any",
      `[cluster]\nservice = "api"\nbanana = 1`,
      "banana",
      /Unknown key 'cluster.banana'; valid keys are/,
    ],
    [
      "misspelt heartbeat key",
      `[cluster]\nheartbeat_intervall = "5s"`,
      "heartbeat_intervall",
      /did you mean 'heartbeat_interval'/,
    ],
    [
      "ttl not above the interval",
      `[cluster]\nservice = "api"\nheartbeat_interval = "10s"\nttl = "5s"`,
      "ttl",
      /'c.toml': Cannot start: 'ttl' \(5s\) must be greater than 'heartbeat_interval' \(10s\)/,
    ],
    [
      "ttl below the floor",
      `[cluster]\nservice = "api"\nheartbeat_interval = "1ms"\nttl = "2ms"`,
      "ttl",
      /Invalid 'ttl': 2ms must be between 100ms and 1h/,
    ],
    [
      "ttl above the ceiling",
      `[cluster]\nservice = "api"\nttl = "2h"`,
      "ttl",
      /Invalid 'ttl': 2h must be between 100ms and 1h/,
    ],
    [
      "replica reads on a single Redis",
      `[cluster]\ndriver = "redis"\n[cluster.redis]\nreplica_reads = true`,
      "redis.replica_reads",
      /'redis.replica_reads' needs 'redis.sentinels' or 'redis.cluster_nodes'/,
    ],
    [
      "replica reads not a boolean",
      `[cluster]\ndriver = "redis"\n[cluster.redis]\nreplica_reads = "yes"`,
      "redis.replica_reads",
      /Invalid 'redis.replica_reads': 'yes' must be true or false/,
    ],
    [
      "unknown driver",
      `[cluster]\nservice = "api"\ndriver = "consul"`,
      "driver",
      /'consul' is not a driver; use "memory", "redis", "postgres" or "etcd"/,
    ],
    [
      "misspelt driver",
      `[cluster]\ndriver = "reddis"`,
      "driver",
      /did you mean 'redis'/,
    ],
    [
      "bad id",
      `[cluster]\nservice = "api"\nid = "api 1"`,
      "id",
      /'c.toml': Invalid 'id': 'api 1' must be 1 to 128 characters/,
    ],
    [
      "bad duration",
      `[cluster]\nservice = "api"\nttl = "15 seconds"`,
      "ttl",
      /'c.toml': Invalid 'ttl': '15 seconds' is not a duration/,
    ],
    [
      "zero duration",
      `[cluster]\nheartbeat_interval = 0`,
      "heartbeat_interval",
      /0 must be a duration between 1ms/,
    ],
    [
      "duration of the wrong type",
      `[cluster]\nttl = true`,
      "ttl",
      /expected a duration like "5s" or a number of seconds, got true/,
    ],
    ["date as a duration", `[cluster]\nttl = 1979-05-27`, "ttl", /got a date/],
    [
      "service of the wrong type",
      `[cluster]\nservice = 5`,
      "service",
      /Invalid 'service': 5 must be/,
    ],
    [
      "meta value not a string",
      `[cluster]\nservice = "api"\n[cluster.meta]\nport = 8080`,
      "meta.port",
      /Invalid 'meta.port': expected a string, got 8080; quote it/,
    ],
    [
      "meta not a table",
      `[cluster]\nmeta = "zone=eu"`,
      "meta",
      /Invalid 'meta': expected a table of string values/,
    ],
    [
      "redis table without the redis driver",
      `[cluster]\nservice = "api"\n[cluster.redis]\nurl = "redis://x"`,
      "redis",
      /'cluster.redis' is set, but 'driver' is 'memory'/,
    ],
    [
      "unknown env variable",
      `[cluster]\nservice = "api"`,
      "ROSTER_TTTL",
      /Unknown environment variable 'ROSTER_TTTL' \(did you mean 'ROSTER_TTL'\?\)/,
    ],
  ];
  for (const [name, toml, field, message] of cases) {
    await t.step(name, () => {
      const env: Record<string, string> = name === "unknown env variable"
        ? { ROSTER_TTTL: "5s" }
        : {};
      assert.throws(
        () => parseConfig(toml, "c.toml", env),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError, String(error));
          assert.equal(error.file, "c.toml");
          assert.equal(error.field, field);
          assert.match(error.message, message);
          return true;
        },
      );
    });
  }
});

Deno.test("a missing file is a ConfigError that names it", async () => {
  await assert.rejects(
    loadConfig("/nonexistent/cluster.toml", {}),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(
        error.message,
        /Cannot read config file '\/nonexistent\/cluster.toml': it does not exist/,
      );
      return true;
    },
  );
});

Deno.test("a ttl under twice the interval is accepted with a warning naming config keys", async () => {
  await using logs = await captureLogs();
  parseConfig(
    `[cluster]\nservice = "api"\nheartbeat_interval = "4s"\nttl = "6s"`,
    "c.toml",
  );
  const [warning] = logs.messages().filter((m) => m.startsWith("warning"));
  assert.match(
    warning ?? "",
    /'ttl' \(6s\) is less than twice 'heartbeat_interval' \(4s\)/,
  );
});

Deno.test("the runner's registry does not warn again of the timing its config warned of", async () => {
  await using logs = await captureLogs();
  const config = parseConfig(
    `[cluster]\nservice = "api"\nheartbeat_interval = "5s"\nttl = "7s"`,
    "c.toml",
  );
  const registry = new Registry({
    ...config.options,
    driver: new MemoryDriver(),
  });
  await registry.stop();
  const warnings = logs.messages().filter((m) => m.startsWith("warning"));
  assert.equal(warnings.length, 1, warnings.join("\n"));
  assert.match(warnings[0]!, /'heartbeat_interval'/);
});

Deno.test("[cluster.health], [cluster.http] and kill_timeout are validated like the rest", async (t) => {
  const base = `[cluster]\nservice = "api"\n`;
  const cases: [string, string, string, RegExp][] = [
    [
      "health without a check",
      `[cluster.health]\ninterval = "5s"`,
      "health.http",
      /says what to check with one of 'http'/,
    ],
    [
      "health with two checks",
      `[cluster.health]\nhttp = "http://x/"\ntcp = "x:1"`,
      "health.tcp",
      /has both 'http' and 'tcp'; keep one check/,
    ],
    [
      "health url",
      `[cluster.health]\nhttp = "ftp://x"`,
      "health.http",
      /must be an http:\/\/ or https:\/\/ URL/,
    ],
    [
      "health tcp",
      `[cluster.health]\ntcp = "nohost"`,
      "health.tcp",
      /must be host:port/,
    ],
    [
      "health command",
      `[cluster.health]\ncommand = 5`,
      "health.command",
      /give a shell command as a string/,
    ],
    [
      "health timeout",
      `[cluster.health]\ntcp = "x:1"\ninterval = "1s"\ntimeout = "2s"`,
      "health.timeout",
      /must not be longer than 'health.interval'/,
    ],
    [
      "health failures",
      `[cluster.health]\ntcp = "x:1"\nfailures = 0`,
      "health.failures",
      /0 must be a whole number of at least 1/,
    ],
    [
      "health warn_exit_code without a command",
      `[cluster.health]\ntcp = "x:1"\nwarn_exit_code = 1`,
      "health.warn_exit_code",
      /applies to a 'command' check only/,
    ],
    [
      "health warn_exit_code out of range",
      `[cluster.health]\ncommand = "true"\nwarn_exit_code = 300`,
      "health.warn_exit_code",
      /300 must be an exit code from 1 to 255/,
    ],
    [
      "protection threshold",
      `[cluster.protection]\nthreshold = 1.5`,
      "protection.threshold",
      /'protection.threshold': 1.5 must be a share between 0 and 1/,
    ],
    [
      "protection min_instances",
      `[cluster.protection]\nmin_instances = 1`,
      "protection.min_instances",
      /'protection.min_instances': 1 must be a whole number of at least 2/,
    ],
    [
      "protection unknown key",
      `[cluster.protection]\nmax_ttl = 3`,
      "protection.max_ttl",
      /did you mean 'max_ttls'/,
    ],
    [
      "health unknown key",
      `[cluster.health]\ntcp = "x:1"\nintreval = "1s"`,
      "health.intreval",
      /Unknown key 'cluster.health.intreval' \(did you mean 'interval'\?\)/,
    ],
    [
      "health bad duration",
      `[cluster.health]\ntcp = "x:1"\ninterval = "soon"`,
      "health.interval",
      /'soon' is not a duration/,
    ],
    [
      "http listen",
      `[cluster.http]\nlisten = "9090"`,
      "http.listen",
      /must be host:port/,
    ],
    [
      "http listen bad IPv4",
      `[cluster.http]\nlisten = "127.999.0.1:9090"`,
      "http.listen",
      /'127\.999\.0\.1' in '127\.999\.0\.1:9090' is not a valid IPv4 address/,
    ],
    [
      "http listen bad IPv6",
      `[cluster.http]\nlisten = "[::g]:9090"`,
      "http.listen",
      /must be host:port/,
    ],
    [
      "http max_streams too many",
      `[cluster.http]\nmax_streams = 20000`,
      "http.max_streams",
      /20000 is more than 10000/,
    ],
    [
      "http short token",
      `[cluster.http]\ntoken = "abc"`,
      "http.token",
      /shorter than 16 characters/,
    ],
    [
      "http blank token",
      `[cluster.http]\ntoken = "                    "`,
      "http.token",
      /starts or ends with whitespace/,
    ],
    [
      "http token with a trailing space",
      `[cluster.http]\ntoken = "a-long-secret-token-123 "`,
      "http.token",
      /starts or ends with whitespace/,
    ],
    [
      "http token not a string",
      `[cluster.http]\ntoken = 1234567890123456`,
      "http.token",
      /expected a non-empty string, got a value of another type/,
    ],
    [
      "http off loopback",
      `[cluster.http]\nlisten = "0.0.0.0:9090"`,
      "http.token",
      /refuses to listen on '0.0.0.0:9090'/,
    ],
    [
      "http not a table",
      ``,
      "http",
      /Invalid 'cluster.http'.*expected a table/,
    ],
    [
      "kill_timeout",
      `kill_timeout = "never"`,
      "kill_timeout",
      /'never' is not a duration/,
    ],
  ];
  for (const [name, extra, field, message] of cases) {
    await t.step(name, () => {
      const text = name === "http not a table"
        ? `${base}http = 5\n`
        : name === "kill_timeout"
        ? `${base}${extra}\n`
        : `${base}${extra}\n`;
      assert.throws(() => parseConfig(text, "c.toml"), (error: unknown) => {
        assert.ok(error instanceof ConfigError, String(error));
        assert.equal(error.field, field);
        assert.match(error.message, message);
        assert.match(error.message, /^'c.toml': /);
        assert.doesNotMatch(error.message, /1234567890123456|-123 /);
        return true;
      });
    });
  }
  const good = parseConfig(
    `${base}kill_timeout = 3\n[cluster.health]\ncommand = "true"\n[cluster.http]\nlisten = "[::1]:0"\n`,
    "c.toml",
    { ROSTER_HTTP_TOKEN: "a-long-secret-token-123" },
  );
  assert.equal(good.killTimeout, 3000);
  assert.deepEqual(good.health?.command, ["sh", "-c", "true"]);
  assert.equal(good.health?.interval, 10_000);
  assert.deepEqual(good.http, {
    hostname: "::1",
    port: 0,
    token: "a-long-secret-token-123",
    maxStreams: 100,
  });
});

Deno.test("[cluster.protection] sets the eviction safety valve, or turns it off", () => {
  const on = parseConfig(
    `[cluster]\nservice = "api"\n[cluster.protection]\nthreshold = 0.4\nmax_ttls = 5`,
    "c.toml",
  );
  assert.deepEqual(on.resolved.protection, {
    threshold: 0.4,
    minInstances: 3,
    maxTtls: 5,
  });
  const off = parseConfig(
    `[cluster]\nservice = "api"\n[cluster.protection]\nenabled = false`,
    "c.toml",
  );
  assert.equal(off.resolved.protection, undefined);
  const byDefault = parseConfig(`[cluster]\nservice = "api"`, "c.toml");
  assert.equal(byDefault.resolved.protection?.threshold, 0.5);
});

Deno.test("a postgres.url that cannot be parsed is a config error that never shows its password", () => {
  for (
    const url of [
      "postgres://roster:S3cretPW@127.0.0.1:99999/app",
      "postgres://roster:S3cretPW@[::1/app",
    ]
  ) {
    try {
      parseConfig(
        `[cluster]\nservice = "api"\ndriver = "postgres"\n[cluster.postgres]\nurl = "${url}"\n`,
        "cluster.toml",
      );
      assert.fail("accepted");
    } catch (error) {
      assert.ok(error instanceof ConfigError, String(error));
      assert.match(
        error.message,
        /'postgres\.url': '.*\*\*\*@.*' cannot be parsed/,
      );
      assert.ok(!error.message.includes("S3cretPW"), error.message);
      assert.equal(error.field, "postgres.url");
    }
  }
});
