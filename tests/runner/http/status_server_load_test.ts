/**
 * The status server under load: 300 dashboards follow an env of 100
 * instances for 30 s (STATUS_LOAD_SECONDS to change it), beside 10 clients
 * that never read, while the runner heartbeats through the same Redis.
 */

import assert from "node:assert/strict";
import { RedisDriver } from "../../../drivers/redis/mod.ts";
import { Registry } from "../../../mod.ts";
import { RedisServer, redisTest, sleep } from "../../_redis_server.ts";
import { spawnRunner, writeConfig } from "../../_runner_process.ts";

const READERS = 300;
const IDLE = 10;
const INSTANCES = 100;
const HOLD_MS = Number(Deno.env.get("STATUS_LOAD_SECONDS") ?? 30) * 1000;

function rssKib(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
}

/** An event-stream client on a raw socket, so closing it is immediate. */
async function openStream(port: number, read: boolean) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(
    new TextEncoder().encode(
      `GET /events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`,
    ),
  );
  let bytes = 0;
  let snapshots = 0;
  const reading = read
    ? (async () => {
      const buffer = new Uint8Array(64 * 1024);
      try {
        while (true) {
          const n = await conn.read(buffer);
          if (n === null) break;
          bytes += n;
          for (let i = 0; i < n - 1; i++) {
            if (buffer[i] === 10 && buffer[i + 1] === 10) snapshots++;
          }
        }
      } catch { /* closed by us */ }
    })()
    : Promise.resolve();
  return {
    get bytes() {
      return bytes;
    },
    get snapshots() {
      return snapshots;
    },
    async close() {
      try {
        conn.close();
      } catch { /* closed already */ }
      await reading;
    },
  };
}

Deno.test(redisTest(
  "300 event streams held for 30 s: no heartbeat fails and the runner's memory stays flat",
  async () => {
    await using server = await RedisServer.start();
    const driver = await RedisDriver.connect({ url: server.url });
    const fleet = Array.from(
      { length: INSTANCES },
      (_, i) =>
        new Registry({
          driver,
          service: `svc-${i % 5}`,
          id: `i-${i}`,
          version: "1.0.0",
          meta: { zone: i % 2 ? "eu-1" : "us-1" },
          heartbeatInterval: 1_000,
          ttl: 5_000,
        }),
    );
    await Promise.all(fleet.map((r) => r.start()));
    // A heartbeat timeout of 500 ms (half the interval): what fails a beat
    // here is the pages, not a loaded machine's scheduling.
    const file = await writeConfig(`[cluster]
driver = "redis"
service = "runner"
heartbeat_interval = "1s"
ttl = "5s"
[cluster.redis]
url = "${server.url}"
[cluster.http]
listen = "127.0.0.1:0"
max_streams = ${READERS + IDLE}
`);
    await using runner = spawnRunner([
      "--config",
      file,
      "--log-level",
      "debug",
    ]);
    const line = await runner.waitForLine(/^roster: status server on /);
    await runner.waitForLine(/^roster: registered/);
    const port = Number(/:(\d+)\/$/.exec(line)?.[1]);
    const pid = runner.child.pid;
    const streams = [];
    try {
      for (let i = 0; i < READERS; i++) {
        streams.push(await openStream(port, true));
      }
      for (let i = 0; i < IDLE; i++) {
        streams.push(await openStream(port, false));
      }
      // Warm up, then sample from there.
      const warmup = Math.min(5_000, HOLD_MS / 3);
      await sleep(warmup);
      const samples = [rssKib(pid)];
      for (let held = warmup; held < HOLD_MS; held += 2_500) {
        await sleep(Math.min(2_500, HOLD_MS - held));
        samples.push(rssKib(pid));
      }
      const before = samples[0]!;
      const after = samples.at(-1)!;
      const readers = streams.slice(0, READERS);
      const starved = readers.filter((s) => s.snapshots < 2).length;
      const snapshots = readers.reduce((sum, s) => sum + s.snapshots, 0);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`))
        .text();
      const failures = Number(
        /^roster_heartbeat_failures_total (\d+)$/m.exec(metrics)?.[1],
      );
      const beats = Number(
        /^roster_heartbeats_total (\d+)$/m.exec(metrics)?.[1],
      );
      console.log(
        `${READERS} readers + ${IDLE} idle for ${
          HOLD_MS / 1000
        }s: ${snapshots} snapshots read, ` +
          `runner RSS ${(before / 1024).toFixed(1)} → ${
            (after / 1024).toFixed(1)
          } MiB, ` +
          `${beats} heartbeats, ${failures} failed, ${
            runner.stderr.filter((l) => /stopped reading/.test(l)).length
          } idle streams dropped; RSS samples (MiB) ${
            samples.map((kib) => (kib / 1024).toFixed(0)).join(" ")
          }`,
      );
      assert.equal(failures, 0, "no heartbeat failed");
      assert.ok(beats > 0);
      assert.equal(starved, 0, "every reader was sent snapshots");
      // Flat: the growth over the hold stays far below what buffering a
      // snapshot per second per stream would take (300 × 40 KB a second).
      assert.ok(
        after - before < 48 * 1024,
        `RSS grew by ${((after - before) / 1024).toFixed(1)} MiB`,
      );
      assert.equal(
        runner.stderr.filter((l) => /heartbeat.*fail/i.test(l)).length,
        0,
        runner.stderr.join("\n"),
      );
    } finally {
      await Promise.all(streams.map((s) => s.close()));
      await Promise.all(fleet.map((r) => r.stop()));
      await driver.close();
    }
    runner.child.kill("SIGTERM");
    assert.equal((await runner.status).code, 0);
  },
));
