import assert from "node:assert/strict";
import { RedisServer, redisTest } from "../../_redis_server.ts";
import { runRunner, spawnRunner, writeConfig } from "../../_runner_process.ts";

function config(url: string, id: string, http: string): Promise<string> {
  return writeConfig(`[cluster]
driver = "redis"
service = "api"
id = "${id}"
version = "1.2.3"
addr = "http://127.0.0.1:8080"
heartbeat_interval = "200ms"
ttl = "1s"
[cluster.meta]
zone = "eu-1"
[cluster.redis]
url = "${url}"
[cluster.http]
${http}
`);
}

async function startRunner(file: string) {
  const runner = spawnRunner(["--config", file]);
  const line = await runner.waitForLine(/^roster: status server on /);
  await runner.waitForLine(/^roster: registered/);
  const base = line.replace(/^roster: status server on /, "").replace(
    /\/$/,
    "",
  );
  return { runner, base };
}

Deno.test(redisTest(
  "the status server serves instances, health, metrics, the dashboard and its event stream",
  async () => {
    await using server = await RedisServer.start();
    const file = await config(server.url, "api-1", `listen = "127.0.0.1:0"`);
    const { runner, base } = await startRunner(file);
    await using _ = runner;

    const instances = await (await fetch(`${base}/instances`)).json();
    assert.deepEqual(instances.map((i: { id: string }) => i.id), ["api-1"]);
    assert.equal(instances[0].meta.zone, "eu-1");
    assert.deepEqual(
      await (await fetch(`${base}/instances?service=none`)).json(),
      [],
    );
    const bad = await fetch(`${base}/instances?service=a%20b`);
    assert.equal(bad.status, 400);
    await bad.body?.cancel();

    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);
    assert.equal((await health.json()).status, "ok");

    await new Promise((resolve) => setTimeout(resolve, 500));
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /^# TYPE roster_heartbeats_total counter$/m);
    assert.match(metrics, /^roster_heartbeats_total [1-9]\d*$/m);
    assert.match(metrics, /^roster_heartbeat_failures_total 0$/m);
    assert.match(
      metrics,
      /^roster_heartbeat_latency_seconds_bucket\{le="\+Inf"\} [1-9]/m,
    );
    assert.match(metrics, /^roster_reregistrations_total 0$/m);
    assert.match(
      metrics,
      /^roster_instances\{service="api",status="healthy"\} 1$/m,
    );
    assert.match(metrics, /^roster_watch_events_total\{type="join"\} \d+$/m);
    assert.match(metrics, /^roster_messages_received_total 0$/m);

    const page = await fetch(`${base}/`);
    assert.match(page.headers.get("content-type") ?? "", /text\/html/);
    assert.match(await page.text(), /<title>roster<\/title>/);

    const events = await fetch(`${base}/events`);
    assert.equal(events.headers.get("content-type"), "text/event-stream");
    const reader = events.body!.pipeThrough(new TextDecoderStream())
      .getReader();
    let text = "";
    while (!text.includes("\n\n")) text += (await reader.read()).value ?? "";
    const snapshot = JSON.parse(
      text.slice(text.indexOf("data: ") + 6, text.indexOf("\n\n")),
    );
    assert.deepEqual(snapshot.instances.map((i: { id: string }) => i.id), [
      "api-1",
    ]);
    assert.equal(snapshot.leaders.api, "api-1");
    await reader.cancel();

    const missing = await fetch(`${base}/nope`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    runner.child.kill("SIGTERM");
    assert.equal((await runner.status).code, 0);
  },
));

Deno.test(redisTest(
  "a token is required when set, and off loopback the server refuses to start without one",
  async () => {
    await using server = await RedisServer.start();
    const token = "s3cret-token-0123456789";
    const file = await config(
      server.url,
      "api-t",
      `listen = "127.0.0.1:0"\ntoken = "${token}"`,
    );
    const { runner, base } = await startRunner(file);
    await using _ = runner;
    // The page itself holds no data: it asks for the token.
    const bare = await fetch(`${base}/`);
    assert.equal(bare.status, 200);
    assert.doesNotMatch(await bare.text(), /api-t/);
    for (const path of ["/instances", "/metrics", "/sd", "/events"]) {
      const denied = await fetch(`${base}${path}`);
      assert.equal(denied.status, 401, path);
      await denied.body?.cancel();
      const wrong = await fetch(`${base}${path}`, {
        headers: { authorization: "Bearer wrong-token-0123456789" },
      });
      assert.equal(wrong.status, 401, path);
      await wrong.body?.cancel();
    }
    const allowed = await fetch(`${base}/instances`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(allowed.status, 200);
    const body = await allowed.text();
    assert.doesNotMatch(
      body,
      new RegExp(token),
      "the token never appears in the API",
    );
    // A token in the URL opens the page, and nothing else.
    const page = await fetch(`${base}/?token=${token}`);
    assert.equal(page.status, 200);
    await page.body?.cancel();
    for (const path of ["/metrics", "/instances", "/events"]) {
      const viaQuery = await fetch(`${base}${path}?token=${token}`);
      assert.equal(viaQuery.status, 401, path);
      await viaQuery.body?.cancel();
    }
    const blank = await fetch(`${base}/instances`, {
      headers: { authorization: "Bearer " },
    });
    assert.equal(blank.status, 401);
    await blank.body?.cancel();
    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200, "health stays open for load balancers");
    await health.body?.cancel();
    runner.child.kill("SIGTERM");
    await runner.status;

    const open = await config(server.url, "api-o", `listen = "0.0.0.0:0"`);
    const refused = await runRunner(["--config", open]);
    assert.equal(refused.code, 2);
    assert.match(
      refused.stderr,
      /refuses to listen on '0.0.0.0:0', which is not a loopback address, without a token/,
    );
    const short = await config(
      server.url,
      "api-s",
      `listen = "127.0.0.1:0"\ntoken = "short"`,
    );
    const tooShort = await runRunner(["check", "--config", short]);
    assert.equal(tooShort.code, 2);
    assert.match(tooShort.stderr, /shorter than 16 characters/);
    assert.doesNotMatch(tooShort.stderr, /short"/);
  },
));

Deno.test(redisTest(
  "serve runs the status server and dashboard without registering anything",
  async () => {
    await using server = await RedisServer.start();
    const file = await config(server.url, "api-1", `listen = "127.0.0.1:0"`);
    const { runner: registered } = await startRunner(file);
    await using _ = registered;
    const dashboard = spawnRunner(["serve", "--config", file]);
    await using __ = dashboard;
    const line = await dashboard.waitForLine(/^roster: status server on /);
    const base = line.replace(/^roster: status server on /, "").replace(
      /\/$/,
      "",
    );
    const instances = await (await fetch(`${base}/instances`)).json();
    assert.deepEqual(instances.map((i: { id: string }) => i.id), ["api-1"]);
    const page = await fetch(`${base}/`);
    assert.match(await page.text(), /<title>roster<\/title>/);
    dashboard.child.kill("SIGTERM");
    assert.equal((await dashboard.status).code, 0);
    assert.doesNotMatch(dashboard.stdout.join("\n"), /registered/);

    const noHttp = await writeConfig(`[cluster]\nservice = "api"\n`);
    const refused = await runRunner(["dashboard", "--config", noHttp]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /'serve' needs a \[cluster\.http\] table/);
  },
));
