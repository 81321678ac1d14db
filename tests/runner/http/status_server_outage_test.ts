/**
 * The status server during an outage: `/metrics` still answers 200 from the
 * last known state with `roster_up 0`, `/instances` answers 503 with the
 * error, since when, and the last known list; and event streams are shared
 * and bounded.
 */

import { eventually } from "../../discovery/_discovery_suite.ts";
import assert from "node:assert/strict";
import { Registry } from "../../../mod.ts";
import { RedisDriver } from "../../../drivers/redis/mod.ts";
import { MemoryDriver } from "../../../testing/mod.ts";
import { RunnerMetrics } from "../../../runner/http/metrics.ts";
import { startStatusServer } from "../../../runner/http/status_server.ts";
import { RedisServer, redisTest } from "../../_redis_server.ts";

Deno.test(redisTest(
  "with Redis stopped, /metrics answers 200 from the last known state and /instances 503 with it",
  async () => {
    await using server = await RedisServer.start();
    const driver = await RedisDriver.connect({
      url: server.url,
      commandTimeout: 200,
    });
    const registry = new Registry({
      driver,
      service: "api",
      id: "api-1",
      heartbeatInterval: 100,
      ttl: 400,
    });
    await registry.start();
    const status = await startStatusServer(
      { hostname: "127.0.0.1", port: 0, token: undefined },
      registry,
      new RunnerMetrics(),
    );
    const base = `http://127.0.0.1:${status.port}`;
    try {
      const live = await fetch(`${base}/instances`);
      assert.equal(live.status, 200);
      assert.deepEqual((await live.json()).map((i: { id: string }) => i.id), [
        "api-1",
      ]);
      assert.match(
        await (await fetch(`${base}/metrics`)).text(),
        /^roster_up 1$/m,
      );

      const lastGoodRead = Date.now();
      const stoppedAt = Date.now();
      await server.stop();
      const stale = await fetch(`${base}/instances`);
      assert.equal(stale.status, 503);
      const body = await stale.json();
      assert.equal(typeof body.error, "string");
      assert.ok(body.error.length > 0 && !body.error.includes("\n"));
      // Stale since the last good read: what is shown was true until then.
      assert.ok(
        body.since >= lastGoodRead - 1_000 && body.since <= stoppedAt,
        `since ${body.since}, stopped at ${stoppedAt}`,
      );
      // The error names the cause, not ioredis's offline-queue refusal.
      const named = await eventually("the error names the cause", async () => {
        const again = await fetch(`${base}/instances`);
        const { error } = await again.json();
        return /ECONNREFUSED/.test(error) ? error as string : undefined;
      }, 5_000);
      assert.doesNotMatch(named, /enableOfflineQueue/);
      assert.deepEqual(body.instances.map((i: { id: string }) => i.id), [
        "api-1",
      ]);

      const metrics = await fetch(`${base}/metrics`);
      assert.equal(metrics.status, 200);
      const text = await metrics.text();
      assert.match(text, /^roster_up 0$/m);
      assert.match(text, /^roster_view_state\{state="stale"\} 1$/m);
      assert.match(
        text,
        /^roster_instances\{service="api",status="healthy"\} 1$/m,
      );
      assert.match(text, /^roster_view_age_seconds \d/m);
    } finally {
      await status.shutdown();
      await registry.stop();
      await driver.close();
    }
  },
));

Deno.test("event streams are capped, and a closed stream frees its place", async () => {
  await using registry = new Registry({
    driver: new MemoryDriver(),
    service: "api",
    id: "api-1",
  });
  await registry.start();
  await using status = await startStatusServer(
    { hostname: "127.0.0.1", port: 0, token: undefined, maxStreams: 2 },
    registry,
    new RunnerMetrics(),
  );
  const url = `http://127.0.0.1:${status.port}/events`;
  const first = await fetch(url);
  const second = await fetch(url);
  assert.equal(first.status, 200);
  assert.equal(second.status, 200);
  const reader = first.body!.getReader();
  const { value } = await reader.read();
  assert.match(new TextDecoder().decode(value), /^data: .*"api-1"/);
  const third = await fetch(url);
  assert.equal(third.status, 503);
  assert.match((await third.json()).error, /2 event streams are open/);
  await reader.cancel();
  await new Promise((resolve) => setTimeout(resolve, 50));
  const again = await fetch(url);
  assert.equal(again.status, 200);
  await again.body?.cancel();
  await second.body?.cancel();
});

Deno.test("a stream that stops reading is dropped, and frees its place", async () => {
  const driver = new MemoryDriver();
  // Big snapshots fill the socket's buffers within a few changes.
  const fleet = Array.from({ length: 200 }, (_, i) =>
    new Registry({
      driver,
      service: "api",
      id: `api-${i}`,
      meta: { blob: "x".repeat(1000) },
    }));
  await Promise.all(fleet.map((r) => r.start()));
  const status = await startStatusServer(
    { hostname: "127.0.0.1", port: 0, token: undefined, maxStreams: 1 },
    fleet[0]!,
    new RunnerMetrics(),
  );
  const idle = await Deno.connect({ hostname: "127.0.0.1", port: status.port });
  let churn: Registry | undefined;
  try {
    await idle.write(
      new TextEncoder().encode(
        `GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
      ),
    );
    const url = `http://127.0.0.1:${status.port}/events`;
    const busy = await fetch(url);
    assert.equal(busy.status, 503, "the idle stream holds the only place");
    await busy.body?.cancel();
    // Every change sends a snapshot; the idle client reads none of them.
    let freed: Response | undefined;
    for (let i = 0; i < 400 && !freed; i++) {
      churn = new Registry({ driver, service: "churn", id: "c" });
      await churn.start();
      await churn.stop();
      const attempt = await fetch(url);
      if (attempt.status === 200) freed = attempt;
      else await attempt.body?.cancel();
    }
    assert.ok(freed, "the idle stream was never dropped");
    await freed.body?.cancel();
  } finally {
    idle.close();
    await status.shutdown();
    await churn?.stop();
    await Promise.all(fleet.map((r) => r.stop()));
  }
});

Deno.test("every stream ends after its lifetime: one that reads gets a clean end, one that never reads is let go and frees its place", async () => {
  await using registry = new Registry({
    driver: new MemoryDriver(),
    service: "api",
    id: "api-1",
  });
  await registry.start();
  await using status = await startStatusServer(
    {
      hostname: "127.0.0.1",
      port: 0,
      token: undefined,
      maxStreams: 1,
      streamLifetimeMs: 300,
    },
    registry,
    new RunnerMetrics(),
  );
  const url = `http://127.0.0.1:${status.port}/events`;
  // A reader: the first snapshot, then the end, within the lifetime.
  const reading = await fetch(url);
  assert.equal(reading.status, 200);
  const started = Date.now();
  const text = await reading.text();
  assert.match(text, /^data: .*"api-1"/);
  assert.ok(Date.now() - started < 5_000, "it ended");
  // A client that never reads (nothing fills its buffers: the kernel
  // would swallow what it does not read for a long time).
  const idle = await Deno.connect({ hostname: "127.0.0.1", port: status.port });
  try {
    await idle.write(
      new TextEncoder().encode(
        `GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
      ),
    );
    // The idle stream takes the only place (once the server read its
    // request), then gives it up at the end of its lifetime.
    const answers: number[] = [];
    await eventually("the place taken, then freed", async () => {
      const attempt = await fetch(url);
      await attempt.body?.cancel();
      answers.push(attempt.status);
      return answers.includes(503) && attempt.status === 200;
    }, 5_000);
  } finally {
    idle.close();
  }
});
