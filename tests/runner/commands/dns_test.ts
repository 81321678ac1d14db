/**
 * `roster dns` in front of real tools: `dig` resolves what a registry
 * holds, and a real HAProxy (`resolvers` and `server-template` over the
 * RFC 2782 SRV name) balances HTTP over three instances, drops one that was
 * SIGKILLed, and sends to a new one.
 */

import assert from "node:assert/strict";
import { figure } from "../../_figures.ts";
import { freePort, REDIS_BINARY, RedisServer } from "../../_redis_server.ts";
import { runRunner, spawnRunner, writeConfig } from "../../_runner_process.ts";
import { installedBinary, serverTest } from "../../_server_test.ts";
import { eventually } from "../../discovery/_discovery_suite.ts";

const DIG = installedBinary("/usr/bin/dig", "/usr/local/bin/dig");
const HAPROXY = installedBinary("/usr/sbin/haproxy", "/usr/local/sbin/haproxy");
const TTL_MS = 1_000;
const DNS_TTL_S = 1;

/** A web instance process: HTTP on `port`, registered in Redis. */
function webInstance(url: string, id: string, port: number) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      new URL("../../fixtures/http_instance.ts", import.meta.url).pathname,
      url,
      id,
      String(port),
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const registered = (async () => {
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let text = "";
    while (!text.includes("registered")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`${id} exited before it registered`);
      text += value;
    }
    await reader.cancel();
  })();
  return {
    port,
    registered,
    async kill() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
    },
  };
}

async function dnsRunner(url: string) {
  const file = await writeConfig(`[cluster]
driver = "redis"
ttl = "${TTL_MS}ms"
heartbeat_interval = "200ms"
[cluster.redis]
url = "${url}"
[cluster.dns]
listen = "127.0.0.1:${freePort()}"
ttl = "${DNS_TTL_S}s"
`);
  const runner = spawnRunner(["dns", "--config", file]);
  const line = await runner.waitForLine(/^roster: DNS server on /);
  const port = Number(/:(\d+) \(UDP/.exec(line)?.[1]);
  return { runner, port, file };
}

const missingDig = !DIG
  ? "dig (bind9-dnsutils) is not installed"
  : !REDIS_BINARY
  ? "redis-server is not installed"
  : undefined;

Deno.test(serverTest(
  missingDig,
  "roster dns answers dig with the instances a shared registry holds; a bad [cluster.dns] exits 2",
  async () => {
    await using redis = await RedisServer.start();
    const web = [1, 2].map((i) =>
      webInstance(redis.url, `web-${i}`, freePort())
    );
    try {
      await Promise.all(web.map((w) => w.registered));
      const dns = await dnsRunner(redis.url);
      await using _ = dns.runner;
      const { stdout } = await new Deno.Command(DIG!, {
        args: [
          "@127.0.0.1",
          "-p",
          String(dns.port),
          "+short",
          "SRV",
          "_web._tcp.default.roster",
        ],
        stdout: "piped",
      }).output();
      assert.deepEqual(
        new TextDecoder().decode(stdout).trim().split("\n").sort(),
        web.map((w, i) => `0 100 ${w.port} web-${i + 1}.web.default.roster.`)
          .sort(),
      );
    } finally {
      for (const w of web) await w.kill();
    }
    const bad = await writeConfig(`[cluster]
[cluster.dns]
listen = "127.0.0.1:8600"
domain = "not a domain"
`);
    const refused = await runRunner(["dns", "--config", bad]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /Invalid 'dns.domain': 'not a domain'/);
  },
));

/**
 * The ports of the servers HAProxy resolved and sends to, from its
 * runtime API (`show servers state`): not in maintenance for resolution.
 */
async function activePorts(socketPath: string): Promise<number[]> {
  const conn = await Deno.connect({ transport: "unix", path: socketPath });
  await conn.write(new TextEncoder().encode("show servers state be\n"));
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of conn.readable) text += decoder.decode(chunk);
  const lines = text.trim().split("\n");
  const header = lines.find((l) => l.startsWith("# be_id"))!.slice(2)
    .split(" ");
  const at = (row: string[], name: string) => row[header.indexOf(name)] ?? "";
  return lines.filter((l) => /^\d/.test(l)).map((l) => l.split(" "))
    // Running (op state 2), and neither in maintenance (admin flags 0x01,
    // 0x02) nor unresolved (0x20, RMAINT).
    .filter((row) =>
      at(row, "srv_op_state") === "2" &&
      (Number(at(row, "srv_admin_state")) & 0x23) === 0
    )
    .map((row) => Number(at(row, "srv_port")))
    .sort();
}

async function served(
  frontPort: number,
  requests: number,
): Promise<Set<string>> {
  const ids = new Set<string>();
  for (let i = 0; i < requests; i++) {
    const response = await fetch(`http://127.0.0.1:${frontPort}/`);
    assert.equal(response.status, 200);
    ids.add(await response.text());
  }
  return ids;
}

Deno.test(serverTest(
  !HAPROXY ? "haproxy is not installed" : missingDig,
  "a real HAProxy balances over the SRV name, drops a SIGKILLed instance, and sends to a new one",
  async () => {
    await using redis = await RedisServer.start();
    const web = [1, 2, 3].map((i) =>
      webInstance(redis.url, `web-${i}`, freePort())
    );
    const dir = await Deno.makeTempDir({ prefix: "roster-haproxy-" });
    let haproxy: Deno.ChildProcess | undefined;
    try {
      await Promise.all(web.map((w) => w.registered));
      const dns = await dnsRunner(redis.url);
      await using _ = dns.runner;
      const frontPort = freePort();
      const admin = `${dir}/admin.sock`;
      // hold obsolete 0s: a server the answer no longer names goes at once.
      await Deno.writeTextFile(
        `${dir}/haproxy.cfg`,
        `global
  maxconn 100
  stats socket ${admin} level admin
defaults
  mode http
  timeout connect 1s
  timeout client 5s
  timeout server 5s
resolvers roster
  nameserver roster 127.0.0.1:${dns.port}
  accepted_payload_size 1232
  resolve_retries 2
  timeout resolve 500ms
  timeout retry 200ms
  hold valid ${DNS_TTL_S}s
  hold obsolete 0s
  hold nx 0s
  hold other 1s
frontend fe
  bind 127.0.0.1:${frontPort}
  default_backend be
backend be
  balance roundrobin
  server-template web 5 _web._tcp.default.roster resolvers roster init-addr none
`,
      );
      haproxy = new Deno.Command(HAPROXY!, {
        args: ["-f", `${dir}/haproxy.cfg`, "-db"],
        stdout: "null",
        stderr: "null",
      }).spawn();
      const ports = web.map((w) => w.port).sort();
      await eventually(
        "HAProxy resolved all three",
        async () =>
          (await activePorts(admin).catch(() => [])).join() === ports.join(),
        15_000,
      );
      assert.deepEqual(
        [...await served(frontPort, 30)].sort(),
        ["web-1", "web-2", "web-3"],
      );

      await web[2]!.kill();
      const killedAt = Date.now();
      await eventually(
        "HAProxy dropped the SIGKILLed instance",
        async () => !(await activePorts(admin)).includes(web[2]!.port),
        // ttl + 1 s (the registry's promise), the DNS TTL, HAProxy's
        // resolve interval, and a second of slack for a loaded machine.
        TTL_MS + 1_000 + DNS_TTL_S * 1_000 + 500 + 1_000,
      );
      figure(
        "HAProxy over roster dns",
        "SIGKILLed instance out of HAProxy after (ms), ttl 1 s, DNS ttl 1 s, resolve 500 ms",
        Date.now() - killedAt,
      );
      assert.deepEqual(
        [...await served(frontPort, 20)].sort(),
        ["web-1", "web-2"],
      );

      const fourth = webInstance(redis.url, "web-4", freePort());
      web.push(fourth);
      await fourth.registered;
      await eventually(
        "HAProxy sends to the new instance",
        async () => (await served(frontPort, 6)).has("web-4"),
        10_000,
      );
    } finally {
      if (haproxy) {
        haproxy.kill("SIGTERM");
        await haproxy.status;
      }
      for (const w of web) await w.kill();
      await Deno.remove(dir, { recursive: true });
    }
  },
));

Deno.test(serverTest(
  DIG ? undefined : "dig (bind9-dnsutils) is not installed",
  "roster run with [cluster.dns] answers for its own instance beside the registration",
  async () => {
    const port = freePort();
    const file = await writeConfig(`[cluster]
service = "api"
id = "api-self"
addr = "127.0.0.1:7070"
[cluster.dns]
listen = "127.0.0.1:${port}"
`);
    await using runner = spawnRunner(["--config", file]);
    await runner.waitForLine(/^roster: DNS server on /);
    await runner.waitForLine(/^roster: registered/);
    const { stdout } = await new Deno.Command(DIG!, {
      args: [
        "@127.0.0.1",
        "-p",
        String(port),
        "+short",
        "SRV",
        "api.default.roster",
      ],
      stdout: "piped",
    }).output();
    assert.equal(
      new TextDecoder().decode(stdout).trim(),
      "0 100 7070 api-self.api.default.roster.",
    );
  },
));
