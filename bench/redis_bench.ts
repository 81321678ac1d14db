/**
 * `deno task bench:redis`: what the Redis driver costs, on a redis-server it
 * starts itself on a free loopback port. Prints a Markdown report and writes
 * it, with the raw figures, to bench/results/.
 *
 * Figures are medians (and p99 where a distribution exists) over repeated
 * runs in one process; compare them as ratios, since the machine is shared.
 */

import { RedisDriver } from "../drivers/redis.ts";
import type { Registration } from "../driver.ts";
import { RedisServer, sleep } from "../tests/_redis_server.ts";
import { UPSERT } from "../drivers/_redis_scripts.ts";

const QUICK = Deno.args.includes("--quick");
const SIZES = [1_000, 10_000];
const CONNECTIONS = 8;
const IN_FLIGHT_PER_CONNECTION = 16;
const RUN_MS = QUICK ? 1_000 : 3_000;
const REPEATS = QUICK ? 3 : 5;
const LIST_SAMPLES = QUICK ? 30 : 100;
const TTL = 60_000;

function registration(i: number, env: string): Registration {
  return {
    id: `inst-${i}`,
    service: `svc-${i % 10}`,
    env,
    version: "1.2.3",
    addr: `http://10.0.${(i >> 8) & 255}.${i & 255}:8080`,
    meta: {},
    hostname: `host-${i}`,
    pid: 1000 + i,
    owner: crypto.randomUUID(),
    status: "healthy",
    ttl: TTL,
  };
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[
    Math.min(sorted.length - 1, Math.floor(q * sorted.length))
  ] as number;
}

function info(text: string, key: string): number {
  return Number(new RegExp(`^${key}:(\\d+)`, "m").exec(text)?.[1] ?? NaN);
}

async function heartbeatThroughput(
  drivers: RedisDriver[],
  regs: Registration[],
): Promise<number> {
  let beats = 0;
  const end = performance.now() + RUN_MS;
  let next = 0;
  const worker = async (driver: RedisDriver) => {
    while (performance.now() < end) {
      const reg = regs[next++ % regs.length] as Registration;
      await driver.heartbeat(reg);
      beats++;
    }
  };
  const start = performance.now();
  await Promise.all(
    drivers.flatMap((driver) =>
      Array.from({ length: IN_FLIGHT_PER_CONNECTION }, () => worker(driver))
    ),
  );
  return beats / ((performance.now() - start) / 1000);
}

async function redisBenchmarkLimit(
  server: RedisServer,
  sha: string,
): Promise<number> {
  const args = [
    "-h",
    "127.0.0.1",
    "-p",
    String(server.port),
    "-c",
    String(CONNECTIONS),
    "-P",
    String(IN_FLIGHT_PER_CONNECTION),
    "-n",
    QUICK ? "100000" : "300000",
    "--csv",
    "EVALSHA",
    sha,
    "1",
    "roster:{bench}:",
    "inst-0",
    "owner-0",
    String(TTL),
    "svc-0",
    '{"id":"inst-0","version":"1.2.3","addr":"http://10.0.0.0:8080","meta":{},"hostname":"host-0","pid":1000}',
  ];
  const { stdout, success } = await new Deno.Command("redis-benchmark", {
    args,
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!success) return NaN;
  const line = new TextDecoder().decode(stdout).trim().split("\n").pop() ?? "";
  // The test name holds the JSON argument and its commas; the 7 figures end the line.
  return Number(line.split(",").slice(-7)[0]?.replaceAll('"', ""));
}

const server = await RedisServer.start();
const admin = await server.admin();
const drivers = await Promise.all(
  Array.from(
    { length: CONNECTIONS },
    () => RedisDriver.connect({ url: server.url, commandTimeout: 5_000 }),
  ),
);
const results: Record<string, unknown> = {
  date: new Date().toISOString(),
  mode: QUICK ? "quick" : "full",
  redis: (await admin.info("server")).match(/redis_version:(\S+)/)?.[1],
  cpus: navigator.hardwareConcurrency,
  deno: Deno.version.deno,
  sizes: {},
};
const rows: string[] = [];

// The EVALSHA limit of this Redis for the same script, as redis-benchmark sees it.
const sha = await admin.script("LOAD", UPSERT) as string;
const limits: number[] = [];
for (let i = 0; i < REPEATS; i++) {
  limits.push(await redisBenchmarkLimit(server, sha));
}
const limit = quantile(limits, 0.5);
results.evalshaLimit = { median: limit, runs: limits };

for (const size of SIZES) {
  const env = `bench${size}`;
  const regs = Array.from({ length: size }, (_, i) => registration(i, env));
  const before = await admin.info("memory");
  for (let i = 0; i < regs.length; i += 500) {
    await Promise.all(
      regs.slice(i, i + 500).map((reg, j) =>
        drivers[j % CONNECTIONS]!.register(reg)
      ),
    );
  }
  const after = await admin.info("memory");
  const base = `roster:{${env}}:`;
  const keys = [
    ...Array.from(
      { length: 10 },
      (_, s) => [`${base}i:svc-${s}`, `${base}x:svc-${s}`],
    ).flat(),
    `${base}svcs`,
    `${base}seq`,
    `${base}clock`,
  ];
  let keyBytes = 0;
  for (const key of keys) {
    keyBytes += Number(
      await admin.call("MEMORY", "USAGE", key, "SAMPLES", "0") ?? 0,
    );
  }

  const throughput: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    throughput.push(await heartbeatThroughput(drivers, regs));
  }

  // Cost per heartbeat: commands sent by clients, and bytes both ways.
  await admin.config("RESETSTAT");
  const statsBefore = await admin.info("stats");
  const sample = 2_000;
  for (let i = 0; i < sample; i++) {
    await drivers[0]!.heartbeat(regs[i % size] as Registration);
  }
  const statsAfter = await admin.info("stats");
  const commandStats = await admin.info("commandstats");
  const evalsha = Number(
    /cmdstat_evalsha:calls=(\d+)/.exec(commandStats)?.[1] ?? 0,
  );
  const bytesIn = info(statsAfter, "total_net_input_bytes") -
    info(statsBefore, "total_net_input_bytes");
  const bytesOut = info(statsAfter, "total_net_output_bytes") -
    info(statsBefore, "total_net_output_bytes");

  const listMs: number[] = [];
  for (let i = 0; i < LIST_SAMPLES; i++) {
    const start = performance.now();
    const listed = await drivers[0]!.list({ env });
    listMs.push(performance.now() - start);
    if (listed.length !== size) {
      throw new Error(`listed ${listed.length}, expected ${size}`);
    }
  }
  const listServiceMs: number[] = [];
  for (let i = 0; i < LIST_SAMPLES; i++) {
    const start = performance.now();
    await drivers[0]!.list({ env, services: ["svc-1"] });
    listServiceMs.push(performance.now() - start);
  }

  const figures = {
    heartbeatsPerSecond: {
      median: quantile(throughput, 0.5),
      runs: throughput,
    },
    ratioToEvalshaLimit: quantile(throughput, 0.5) / limit,
    evalshaPerHeartbeat: evalsha / sample,
    bytesInPerHeartbeat: bytesIn / sample,
    bytesOutPerHeartbeat: bytesOut / sample,
    usedMemoryPerInstance:
      (info(after, "used_memory") - info(before, "used_memory")) / size,
    keyMemoryPerInstance: keyBytes / size,
    listAllMs: { p50: quantile(listMs, 0.5), p99: quantile(listMs, 0.99) },
    listOneServiceMs: {
      p50: quantile(listServiceMs, 0.5),
      p99: quantile(listServiceMs, 0.99),
    },
  };
  (results.sizes as Record<string, unknown>)[size] = figures;
  rows.push(
    `| ${size.toLocaleString("en")} | ${
      Math.round(figures.heartbeatsPerSecond.median).toLocaleString("en")
    } | ${figures.ratioToEvalshaLimit.toFixed(2)} | ${
      figures.evalshaPerHeartbeat.toFixed(2)
    } | ${Math.round(figures.bytesInPerHeartbeat)} / ${
      Math.round(figures.bytesOutPerHeartbeat)
    } | ${Math.round(figures.usedMemoryPerInstance)} (${
      Math.round(figures.keyMemoryPerInstance)
    }) | ${figures.listAllMs.p50.toFixed(2)} / ${
      figures.listAllMs.p99.toFixed(2)
    } | ${figures.listOneServiceMs.p50.toFixed(2)} / ${
      figures.listOneServiceMs.p99.toFixed(2)
    } |`,
  );
}

for (const driver of drivers) await driver.close();
await server[Symbol.asyncDispose]();
await sleep(0);

const report = `# Redis driver benchmark

${results.date} · ${results.mode} mode · Redis ${results.redis} · Deno ${results.deno} · ${results.cpus} CPUs, client and server on one machine.
Heartbeats through the driver use ${CONNECTIONS} connections × ${IN_FLIGHT_PER_CONNECTION} in flight; the limit is
\`redis-benchmark\` running the same upsert script with \`EVALSHA\` (${CONNECTIONS} clients, pipeline ${IN_FLIGHT_PER_CONNECTION}):
**${Math.round(limit).toLocaleString("en")}/s** (median of ${REPEATS}).

| instances | heartbeats/s (median of ${REPEATS}) | × EVALSHA limit | Redis commands per heartbeat | bytes in / out per heartbeat | Redis memory per instance, B: used_memory (MEMORY USAGE) | list all, ms p50 / p99 | list one service (1/10), ms p50 / p99 |
| --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join("\n")}
`;
console.log(report);
await Deno.mkdir(new URL("./results/", import.meta.url), { recursive: true });
await Deno.writeTextFile(
  new URL("./results/redis.json", import.meta.url),
  JSON.stringify(results, null, 2) + "\n",
);
await Deno.writeTextFile(
  new URL("./results/redis.md", import.meta.url),
  report,
);
