/**
 * Figures for the Redis driver on a redis-server the caller started:
 * heartbeat throughput against redis-benchmark's EVALSHA limit, Redis cost
 * per heartbeat, memory per instance, and listing latency, direct and from
 * the cached view.
 */

import type { Redis } from "ioredis";
import { RedisDriver } from "../drivers/redis/mod.ts";
import type { Registration } from "../contract/driver.ts";
import { Registry } from "../registry.ts";
import type { RedisServer } from "../tests/_redis_server.ts";
import { UPSERT } from "../drivers/redis/_scripts.ts";
import { redisCpuMicros } from "./heartbeat_cost.ts";

export const CONNECTIONS = 8;
export const IN_FLIGHT_PER_CONNECTION = 16;
const TTL = 600_000;

export interface DriverBenchOptions {
  quick: boolean;
  sizes: number[];
  /** Extra sizes measured for listing only. */
  listSizes?: number[];
  /** Also measure what a purge's scan of the live fleet costs Redis. */
  measureScan?: boolean;
}

export interface SizeFigures {
  heartbeatsPerSecond: { median: number; p99: number; runs: number[] };
  ratioToEvalshaLimit: number;
  evalshaPerHeartbeat: number;
  redisUsecPerHeartbeat: number;
  /**
   * Redis process CPU (`INFO cpu`) per heartbeat while saturated: what
   * commandstats counts, plus reading and answering the connections.
   */
  redisCpuUsecPerHeartbeat: number;
  bytesInPerHeartbeat: number;
  bytesOutPerHeartbeat: number;
  /** used_memory per instance right after the registrations. */
  usedMemoryPerInstance: number;
  /** The same after a purge pass over the env (as a live fleet's). */
  usedMemoryAfterPassPerInstance: number;
  keyMemoryPerInstance: number;
  listAllMs: { p50: number; p99: number };
  /** Redis's own time per listing of every service: every command, from SLOWLOG. */
  listAllRedisMs: number;
  listOneServiceMs: { p50: number; p99: number };
  cachedListMs: { p50: number; p99: number };
  /**
   * Redis process CPU per instance for one purge pass over a live fleet
   * (every service due at once), its calls included.
   */
  scanCpuUsecPerInstance: number;
}

export interface DriverFigures {
  evalshaLimit: { median: number; p99: number; runs: number[] };
  sizes: Record<number, Partial<SizeFigures>>;
}

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
    // redis-benchmark beats inst-0 of env "bench" with a fixed owner.
    owner: i === 0 ? "owner-0" : crypto.randomUUID(),
    status: "healthy",
    ttl: TTL,
    heartbeatInterval: TTL / 3,
  };
}

export function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[
    Math.min(sorted.length - 1, Math.floor(q * sorted.length))
  ] as number;
}

export function info(text: string, key: string): number {
  return Number(new RegExp(`^${key}:(\\d+)`, "m").exec(text)?.[1] ?? NaN);
}

async function heartbeatThroughput(
  drivers: RedisDriver[],
  regs: Registration[],
  runMs: number,
): Promise<{ perSecond: number; beats: number }> {
  let beats = 0;
  const end = performance.now() + runMs;
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
  return { perSecond: beats / ((performance.now() - start) / 1000), beats };
}

async function redisBenchmarkLimit(
  server: RedisServer,
  sha: string,
  seq: string,
  lease: { registeredAt: number; expiresAt: number },
  quick: boolean,
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
    quick ? "100000" : "300000",
    "--csv",
    "EVALSHA",
    sha,
    "5",
    ...["ids", "meta", "log", "p:svc-0", "b:svc-0"].map((k) =>
      `roster:{bench}:${k}`
    ),
    // inst-0's owner, slot and seq: the heartbeat's fast path, as a
    // registry's beats take it.
    "owner-0",
    "0",
    seq,
    String(TTL),
    "h",
    "",
    // id, service, reason and the lease it holds; no term, and no body (a
    // beat leaves it out): the arguments `upsertArgs` sends.
    `inst-0\tsvc-0\tR\t${lease.registeredAt}\t${lease.expiresAt}`,
    "",
    "",
  ];
  const { stdout, stderr, success } = await new Deno.Command(
    "redis-benchmark",
    { args, stdout: "piped", stderr: "piped" },
  ).output();
  // A script error (its arguments out of date, say) must not pass as "-".
  const errors = new TextDecoder().decode(stdout).match(/Error from server.*/);
  if (!success || errors) {
    throw new Error(
      `redis-benchmark failed: ${
        errors?.[0] ?? new TextDecoder().decode(stderr).trim()
      }`,
    );
  }
  const line = new TextDecoder().decode(stdout).trim().split("\n").pop() ?? "";
  // The test name holds the JSON argument and its commas; the 7 figures end the line.
  return Number(line.split(",").slice(-7)[0]?.replaceAll('"', ""));
}

export async function measureDriver(
  server: RedisServer,
  options: DriverBenchOptions,
): Promise<DriverFigures> {
  const RUN_MS = options.quick ? 1_000 : 3_000;
  const REPEATS = options.quick ? 3 : 5;
  const LIST_SAMPLES = options.quick ? 30 : 100;
  const admin = await server.admin();
  const drivers = await Promise.all(
    Array.from(
      { length: CONNECTIONS },
      () => RedisDriver.connect({ url: server.url, commandTimeout: 10_000 }),
    ),
  );
  const figures: DriverFigures = {
    evalshaLimit: { median: 0, p99: 0, runs: [] },
    sizes: {},
  };
  try {
    const sha = await admin.script("LOAD", UPSERT) as string;
    // The entry redis-benchmark beats, with the owner it sends.
    const beaten = await drivers[0]!.register(registration(0, "bench"));
    const seq = String(beaten.seq).padStart(16, "0");
    const limits: number[] = [];
    for (let i = 0; i < REPEATS; i++) {
      limits.push(
        await redisBenchmarkLimit(server, sha, seq, beaten, options.quick),
      );
    }
    const limit = quantile(limits, 0.5);
    figures.evalshaLimit = {
      median: limit,
      p99: quantile(limits, 0.99),
      runs: limits,
    };
    const all = [...new Set([...options.sizes, ...(options.listSizes ?? [])])]
      .sort((a, b) => a - b);
    for (const size of all) {
      const env = `bench${size}`;
      const regs = Array.from({ length: size }, (_, i) => registration(i, env));
      const before = await admin.info("memory");
      for (let i = 0; i < regs.length; i += 1000) {
        await Promise.all(
          regs.slice(i, i + 1000).map((reg, j) =>
            drivers[j % CONNECTIONS]!.register(reg)
          ),
        );
      }
      const after = await admin.info("memory");
      const base = `roster:{${env}}:`;
      const keys = [
        ...Array.from(
          { length: 10 },
          (_, s) => ["p", "b", "f"].map((k) => `${base}${k}:svc-${s}`),
        ).flat(),
        ...["ids", "x", "svcs", "meta", "log"].map((k) => `${base}${k}`),
      ];
      let keyBytes = 0;
      for (const key of keys) {
        keyBytes += Number(
          await admin.call("MEMORY", "USAGE", key, "SAMPLES", "0") ?? 0,
        );
      }
      // A fleet's services fall due and are purged about once a ttl; a
      // pass that ends writes the strings that grew at their size.
      const meta = `${base}meta`;
      await admin.hset(
        meta,
        Object.fromEntries(
          String(await admin.hget(meta, "svcs") ?? "").split(",").map((
            service,
          ) => [`d:${service}`, "0"]),
        ),
      );
      await purgePass(drivers[0]!, env);
      const afterPass = await admin.info("memory");
      const size_: Partial<SizeFigures> = {
        usedMemoryPerInstance:
          (info(after, "used_memory") - info(before, "used_memory")) / size,
        usedMemoryAfterPassPerInstance:
          (info(afterPass, "used_memory") - info(before, "used_memory")) /
          size,
        keyMemoryPerInstance: keyBytes / size,
      };
      if (options.sizes.includes(size)) {
        const throughput: number[] = [];
        const cpuPerBeat: number[] = [];
        for (let i = 0; i < REPEATS; i++) {
          const cpu = await redisCpuMicros(admin);
          const run = await heartbeatThroughput(drivers, regs, RUN_MS);
          cpuPerBeat.push((await redisCpuMicros(admin) - cpu) / run.beats);
          throughput.push(run.perSecond);
        }
        size_.redisCpuUsecPerHeartbeat = quantile(cpuPerBeat, 0.5);
        await admin.config("RESETSTAT");
        const statsBefore = await admin.info("stats");
        const sample = 2_000;
        for (let i = 0; i < sample; i++) {
          await drivers[0]!.heartbeat(regs[i % size] as Registration);
        }
        const statsAfter = await admin.info("stats");
        const commandStats = await admin.info("commandstats");
        const evalsha = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(
          commandStats,
        );
        size_.heartbeatsPerSecond = {
          median: quantile(throughput, 0.5),
          p99: quantile(throughput, 0.99),
          runs: throughput,
        };
        size_.ratioToEvalshaLimit = quantile(throughput, 0.5) / limit;
        size_.evalshaPerHeartbeat = Number(evalsha?.[1] ?? 0) / sample;
        size_.redisUsecPerHeartbeat = Number(evalsha?.[2] ?? 0) / sample;
        size_.bytesInPerHeartbeat = (info(statsAfter, "total_net_input_bytes") -
          info(statsBefore, "total_net_input_bytes")) / sample;
        size_.bytesOutPerHeartbeat =
          (info(statsAfter, "total_net_output_bytes") -
            info(statsBefore, "total_net_output_bytes")) / sample;
      }
      const samples = size >= 100_000
        ? Math.min(LIST_SAMPLES, 20)
        : LIST_SAMPLES;
      const listing = await redisTime(admin, () =>
        timeIt(samples, async () => {
          const listed = await drivers[0]!.list({ env });
          if (listed.length !== size) {
            throw new Error(`listed ${listed.length}, expected ${size}`);
          }
        }));
      size_.listAllMs = listing.result;
      size_.listAllRedisMs = listing.micros / samples / 1000;
      size_.listOneServiceMs = await timeIt(
        samples,
        () => drivers[0]!.list({ env, services: ["svc-1"] }).then(() => {}),
      );
      const cached = new Registry({ driver: drivers[1]!, env, cache: true });
      try {
        await cached.instances();
        size_.cachedListMs = await timeIt(
          samples * 10,
          () => cached.instances().then(() => {}),
        );
      } finally {
        await cached.stop();
      }
      if (options.measureScan) {
        size_.scanCpuUsecPerInstance = await scanCost(admin, drivers[0]!, env) /
          size;
      }
      figures.sizes[size] = size_;
      await admin.del(...keys);
    }
  } finally {
    for (const driver of drivers) await driver.close();
  }
  return figures;
}

/**
 * Redis process CPU, in µs, for one purge pass over every service of `env`
 * (all made due at once): the calls the purger makes until none is due.
 * The median of three passes: one pass over a small env takes a few ms, so
 * a single window can catch Redis's own background work.
 */
async function scanCost(
  admin: Redis,
  purger: RedisDriver,
  env: string,
): Promise<number> {
  const meta = `roster:{${env}}:meta`;
  const services = String(await admin.hget(meta, "svcs") ?? "").split(",");
  const passes: number[] = [];
  for (let pass = 0; pass < 3; pass++) {
    await admin.hset(
      meta,
      Object.fromEntries(services.map((service) => [`d:${service}`, "0"])),
    );
    const cpu = await redisCpuMicros(admin);
    await purgePass(purger, env);
    passes.push(await redisCpuMicros(admin) - cpu);
  }
  return quantile(passes, 0.5);
}

/** One purge pass over every service due, to its end. */
async function purgePass(purger: RedisDriver, env: string): Promise<void> {
  // While a pass goes on the purge asks to be called again at once; once
  // it is over, when the next entry falls due (minutes here).
  for (let calls = 0; (await purger.purge(env)) < 1_000; calls++) {
    if (calls > 100_000) throw new Error("the purge pass did not end");
  }
}

/**
 * Redis's own time for everything `run` sends, in µs: the sum of every
 * top-level command's execution time from SLOWLOG (logging all of them
 * meanwhile). Commands a script or a MULTI runs are inside their caller's
 * time there, never counted twice, as commandstats would.
 */
async function redisTime<T>(
  admin: Redis,
  run: () => Promise<T>,
): Promise<{ result: T; micros: number }> {
  const [, threshold] = await admin.config("GET", "slowlog-log-slower-than");
  const [, length] = await admin.config("GET", "slowlog-max-len");
  await admin.config("SET", "slowlog-log-slower-than", "0");
  await admin.config("SET", "slowlog-max-len", "1000000");
  await admin.call("SLOWLOG", "RESET");
  try {
    const result = await run();
    const entries = await admin.call("SLOWLOG", "GET", "-1") as [
      number,
      number,
      number,
      string[],
    ][];
    let micros = 0;
    for (const [, , duration, args] of entries) {
      const name = String(args[0]).toLowerCase();
      if (name !== "slowlog" && name !== "config") micros += duration;
    }
    return { result, micros };
  } finally {
    await admin.config("SET", "slowlog-log-slower-than", String(threshold));
    await admin.config("SET", "slowlog-max-len", String(length));
    await admin.call("SLOWLOG", "RESET");
  }
}

async function timeIt(
  samples: number,
  run: () => Promise<void>,
): Promise<{ p50: number; p99: number }> {
  const ms: number[] = [];
  for (let i = 0; i < samples; i++) {
    const start = performance.now();
    await run();
    ms.push(performance.now() - start);
  }
  return { p50: quantile(ms, 0.5), p99: quantile(ms, 0.99) };
}
