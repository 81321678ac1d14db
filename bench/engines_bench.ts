/**
 * `deno task bench:engines`: the same driver figures for every engine, in
 * one report: heartbeat throughput, listing 1k and 10k instances (p50, p99),
 * and how long a crashed instance stays listed. Each engine runs on a server
 * this script starts on loopback; the figures compare within one run.
 * Writes bench/results/engines.{md,json}.
 */

import type { Driver, Registration } from "../contract/driver.ts";
import { EtcdDriver } from "../drivers/etcd/mod.ts";
import { PostgresDriver } from "../drivers/postgres/mod.ts";
import { RedisDriver } from "../drivers/redis/mod.ts";
import { Registry } from "../registry.ts";
import { EtcdServer } from "../tests/_etcd_server.ts";
import { PostgresServer } from "../tests/_postgres_server.ts";
import { RedisServer } from "../tests/_redis_server.ts";
import { quantile } from "./driver_figures.ts";
import { saveReport } from "./_report.ts";

const quick = Deno.args.includes("--quick");
const BEAT_SECONDS = quick ? 3 : 10;
const IN_FLIGHT = 32;
const LIST_ROUNDS = quick ? 20 : 60;
/** etcd's smallest lease is 2 s; every engine gets the same ttl. */
const CRASH_TTL = 2_000;

interface EngineFigures {
  heartbeatsPerSecond: number;
  list: Record<number, { p50: number; p99: number }>;
  crashSeenMs: number;
}

function registration(i: number, env: string, ttl = 600_000): Registration {
  return {
    id: `inst-${i}`,
    service: `svc-${i % 10}`,
    env,
    version: "1.2.3",
    addr: `http://10.0.${(i >> 8) & 255}.${i & 255}:8080`,
    meta: { zone: "eu-1" },
    hostname: `host-${i}`,
    pid: 1000 + i,
    owner: crypto.randomUUID(),
    status: "healthy",
    ttl,
    heartbeatInterval: Math.floor(ttl / 3),
  };
}

async function measure(open: () => Promise<Driver>): Promise<EngineFigures> {
  const driver = await open();
  const figures: EngineFigures = {
    heartbeatsPerSecond: 0,
    list: {},
    crashSeenMs: 0,
  };
  try {
    // Listings of 1k and 10k instances.
    for (const size of [1_000, 10_000]) {
      const env = `list-${size}`;
      const regs = Array.from({ length: size }, (_, i) => registration(i, env));
      for (let i = 0; i < regs.length; i += 200) {
        await Promise.all(
          regs.slice(i, i + 200).map((r) => driver.register(r)),
        );
      }
      const times: number[] = [];
      for (let round = 0; round < LIST_ROUNDS; round++) {
        const started = performance.now();
        const listed = await driver.list({ env });
        times.push(performance.now() - started);
        if (listed.length !== size) throw new Error(`listed ${listed.length}`);
      }
      figures.list[size] = {
        p50: quantile(times, 0.5),
        p99: quantile(times, 0.99),
      };
    }
    // Heartbeat throughput: 1,000 registrations beaten as fast as allowed.
    const env = "beats";
    const regs = Array.from({ length: 1_000 }, (_, i) => registration(i, env));
    for (let i = 0; i < regs.length; i += 200) {
      await Promise.all(regs.slice(i, i + 200).map((r) => driver.register(r)));
    }
    let beats = 0;
    const until = performance.now() + BEAT_SECONDS * 1000;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async (_, lane) => {
        for (let i = lane; performance.now() < until; i += IN_FLIGHT) {
          await driver.heartbeat(regs[i % regs.length]!);
          beats++;
        }
      }),
    );
    figures.heartbeatsPerSecond = beats / BEAT_SECONDS;
    // Crash seen: an instance registers, then never beats again; how long
    // until a watcher that follows all along sees it leave.
    const watcher = new Registry({ driver, env: "crash" });
    try {
      const controller = new AbortController();
      let ready!: () => void;
      const watching = new Promise<void>((resolve) => ready = resolve);
      const left = (async () => {
        for await (
          const event of watcher.watch("api", {
            current: true,
            signal: controller.signal,
          })
        ) {
          if (event.reason === "current") ready();
          if (event.type === "leave") return performance.now();
        }
        return NaN;
      })();
      setTimeout(ready, 1_000);
      await watching;
      const crash = { ...registration(0, "crash", CRASH_TTL), service: "api" };
      await driver.register(crash);
      const lastBeat = performance.now();
      const seen = await left;
      controller.abort();
      figures.crashSeenMs = seen - lastBeat;
    } finally {
      await watcher.stop();
    }
    return figures;
  } finally {
    await driver.close();
  }
}

const results: Record<string, EngineFigures> = {};
{
  await using server = await RedisServer.start();
  results.redis = await measure(() => RedisDriver.connect({ url: server.url }));
}
{
  await using server = await PostgresServer.start();
  results["postgres (fsync off)"] = await measure(() =>
    PostgresDriver.connect({ url: server.url, max: 8 })
  );
}
{
  // PostgreSQL's defaults: every commit waits for its WAL to reach disk.
  await using server = await PostgresServer.start({ durable: true });
  results["postgres (durable)"] = await measure(() =>
    PostgresDriver.connect({ url: server.url, max: 8 })
  );
}
{
  await using server = await EtcdServer.start();
  results.etcd = await measure(() =>
    EtcdDriver.connect({ endpoints: [server.url] })
  );
}

const fmt = (n: number, digits = 1) =>
  n.toLocaleString("en", { maximumFractionDigits: digits });
const report = `# Engines, side by side

${new Date().toISOString()} · ${
  quick ? "quick" : "full"
} mode · Deno ${Deno.version.deno} · ${navigator.hardwareConcurrency} CPUs, client and servers on one machine, each server started by the bench with its defaults, but PostgreSQL twice: once with \`fsync\`, \`synchronous_commit\` and \`full_page_writes\` off, as the tests run it, and once durable (its defaults).

| engine | heartbeats/s (${IN_FLIGHT} in flight) | list 1k p50 / p99 (ms) | list 10k p50 / p99 (ms) | crash seen after the last beat (ttl ${
  CRASH_TTL / 1000
} s) |
| --- | --- | --- | --- | --- |
${
  Object.entries(results).map(([name, f]) =>
    `| ${name} | ${fmt(f.heartbeatsPerSecond, 0)} | ${
      fmt(f.list[1000]!.p50)
    } / ${fmt(f.list[1000]!.p99)} | ${fmt(f.list[10000]!.p50)} / ${
      fmt(f.list[10000]!.p99)
    } | ${fmt(f.crashSeenMs / 1000, 2)} s |`
  ).join("\n")
}
`;
console.log(report);
await saveReport("engines", results, report);
