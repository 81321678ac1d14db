/**
 * `deno task bench:scale`: how the Redis driver's cost grows with one env,
 * from 1,000 to 100,000 instances (ten services), on a redis-server it
 * starts itself on a free loopback port: memory, listings, Redis CPU per
 * heartbeat and per purge scan, and from those how many instances one
 * Redis core keeps at a 5 s interval. Prints a Markdown report and writes
 * it, with the raw figures, to bench/results/scale.{md,json}.
 */

import { RedisServer } from "../tests/_redis_server.ts";
import { measureDriver, type SizeFigures } from "./driver_figures.ts";
import { machineLine, round, saveReport } from "./_report.ts";

/** The heartbeat interval and ttl the capacity is worked out for. */
const INTERVAL_S = 5;
const TTL_S = 15;
const SIZES = [1_000, 10_000, 100_000];

/**
 * Instances one Redis core keeps: each beats once per interval, and the
 * purge scans each once per due time, which beats keep about a ttl less an
 * interval ahead.
 */
function instancesPerCore(f: Partial<SizeFigures>): number {
  const perInstancePerSecond = (f.redisCpuUsecPerHeartbeat ?? NaN) /
      INTERVAL_S + (f.scanCpuUsecPerInstance ?? NaN) / (TTL_S - INTERVAL_S);
  return 1e6 / perInstancePerSecond;
}

const quick = Deno.args.includes("--quick");
await using server = await RedisServer.start();
const redis =
  (await (await server.admin()).info("server")).match(/redis_version:(\S+)/)
    ?.[1] ?? "?";
const figures = await measureDriver(server, {
  quick,
  sizes: SIZES,
  measureScan: true,
});
const rows = Object.entries(figures.sizes).map(([size, f]) =>
  `| ${Number(size).toLocaleString("en")} | ${
    round(f.usedMemoryPerInstance)
  } | ${round(f.listAllMs?.p50, 1)} / ${round(f.listAllMs?.p99, 1)} | ${
    round(f.listAllRedisMs, 2)
  } | ${round(f.listOneServiceMs?.p50, 2)} / ${
    round(f.listOneServiceMs?.p99, 2)
  } | ${round(f.redisCpuUsecPerHeartbeat, 1)} | ${
    round(f.scanCpuUsecPerInstance, 1)
  } | ${round(Math.floor(instancesPerCore(f) / 1000) * 1000)} |`
);
const report = `# Redis driver at scale, one env

${machineLine(quick, redis)}
Ten services per env; empty meta. Heartbeats are saturated (8 connections,
16 in flight each); Redis CPU is the process's (\`INFO cpu\`), so it counts
reading and answering connections as well as the scripts.

| instances | Redis memory per instance, B (used_memory, change log included) | list all, ms p50 / p99 | Redis ms per listing (every command) | list one service (1/10), ms p50 / p99 | Redis CPU per heartbeat, µs | Redis CPU per instance per purge scan, µs | instances per Redis core at a ${INTERVAL_S} s interval, ${TTL_S} s ttl |
| --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join("\n")}

Instances per core = 1 s ÷ (CPU per heartbeat ÷ ${INTERVAL_S} s + CPU per
instance per scan ÷ ${
  TTL_S - INTERVAL_S
} s): each instance beats once per interval, and
the purge scans it about once per ttl less an interval. Listings, watchers
and the client's own CPU (here on the same 2 cores) come on top.
`;
console.log(report);
await saveReport("scale", figures, report);
