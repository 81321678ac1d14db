/**
 * Redis CPU per heartbeat: the v3 data model against the v2 one it
 * replaced, in the same run on the same redis-server, at saturation (many
 * beats in flight) and at a fleet's rate (50 beats a second), interleaved
 * over three repetitions with the order turned each time. Two floors are
 * measured alongside: a script that does nothing, called with a beat's
 * keys and arguments (what any script beat pays), and a `SETEX` (a
 * Moleculer beat's write). CPU is read
 * from `INFO cpu` (the whole process: parsing, Lua, replies, syscalls), not
 * from commandstats, which counts commands run inside Lua twice.
 */

import type { Redis } from "ioredis";
import type { Registration } from "../contract/driver.ts";
import { RedisDriver } from "../drivers/redis/mod.ts";
import type { RedisServer } from "../tests/_redis_server.ts";
import { UPSERT as V2_UPSERT } from "./_v2_upsert.ts";
import { sleep } from "./_process.ts";
import { interleave, ratios, type Spread, spread } from "./_spread.ts";

/** The Redis process's CPU time so far, in µs. */
export async function redisCpuMicros(admin: Redis): Promise<number> {
  const text = await admin.info("cpu");
  const read = (key: string) =>
    Number(new RegExp(`^${key}:([\\d.]+)`, "m").exec(text)?.[1] ?? NaN);
  return (read("used_cpu_sys") + read("used_cpu_user")) * 1e6;
}

export interface BeatCost {
  /** µs of Redis CPU per beat with beats in flight on 8 connections. */
  saturated: number;
  /** µs of Redis CPU per beat at 50 beats/s, less Redis's idle CPU. */
  fleetRate: number;
}

/** Each figure over the repetitions; ratios are v3 ÷ v2 inside each. */
export interface HeartbeatCost {
  v2: { saturated: Spread; fleetRate: Spread };
  v3: { saturated: Spread; fleetRate: Spread };
  /** An `EVALSHA` of a script that returns at once, with a v3 beat's keys and arguments. */
  emptyScript: { saturated: Spread; fleetRate: Spread };
  /** A `SETEX` of a 60-byte value. */
  setex: { saturated: Spread; fleetRate: Spread };
  saturatedRatio: Spread;
  fleetRateRatio: Spread;
  idleMicrosPerSecond: Spread;
}

type Beat = (i: number) => Promise<unknown>;

const INSTANCES = 1_000;
const TTL = 600_000;

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
    heartbeatInterval: TTL / 3,
  };
}

async function cpuPerBeat(
  admin: Redis,
  beats: number,
  run: () => Promise<void>,
  idlePerSecond = 0,
): Promise<number> {
  const cpu = await redisCpuMicros(admin);
  const start = performance.now();
  await run();
  const seconds = (performance.now() - start) / 1000;
  return ((await redisCpuMicros(admin)) - cpu - idlePerSecond * seconds) /
    beats;
}

async function saturate(beat: Beat, total: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < total) await beat(next++);
  };
  await Promise.all(Array.from({ length: 8 * 16 }, worker));
}

async function atRate(beat: Beat, perSecond: number, seconds: number) {
  const total = perSecond * seconds;
  const start = performance.now();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    pending.push(beat(i));
  }
  await Promise.all(pending);
}

async function measure(
  admin: Redis,
  beat: Beat,
  options: { saturatedBeats: number; fleetSeconds: number; idle: number },
): Promise<BeatCost> {
  await saturate(beat, 2_000); // warm up
  const saturated = await cpuPerBeat(
    admin,
    options.saturatedBeats,
    () => saturate(beat, options.saturatedBeats),
  );
  const fleetRate = await cpuPerBeat(
    admin,
    50 * options.fleetSeconds,
    () => atRate(beat, 50, options.fleetSeconds),
    options.idle,
  );
  return { saturated, fleetRate };
}

/**
 * Measures both models and the two floors on `server`, each with 1,000
 * instances (or keys) in 10 services, through 8 connections.
 *
 * @param server A redis-server to use; its data is flushed.
 * @param quick Fewer and shorter runs.
 * @returns µs of Redis CPU per beat for each side.
 */
export async function measureHeartbeatCost(
  server: RedisServer,
  quick: boolean,
): Promise<HeartbeatCost> {
  const admin = await server.admin();
  const options = {
    saturatedBeats: quick ? 20_000 : 100_000,
    fleetSeconds: quick ? 6 : 20,
    idle: 0,
  };
  // Redis's own idle CPU (its timers), measured in each repetition and
  // taken out of that repetition's fleet-rate figures.
  const idleSeconds = quick ? 3 : 10;
  const idle = async () => {
    const start = await redisCpuMicros(admin);
    await sleep(idleSeconds * 1000);
    options.idle = ((await redisCpuMicros(admin)) - start) / idleSeconds;
    idles.push(options.idle);
  };
  const idles: number[] = [];

  const drivers = await Promise.all(
    Array.from(
      { length: 8 },
      () => RedisDriver.connect({ url: server.url, commandTimeout: 10_000 }),
    ),
  );
  try {
    // v2: its script, called the way its driver called it.
    const v2Sha = await admin.script("LOAD", V2_UPSERT) as string;
    const v2Regs = Array.from(
      { length: INSTANCES },
      (_, i) => registration(i, "v2"),
    );
    const v2Json = v2Regs.map((reg) =>
      JSON.stringify({
        version: reg.version,
        addr: reg.addr,
        meta: reg.meta,
        hostname: reg.hostname,
        pid: reg.pid,
      })
    );
    const v2Beat: Beat = (i) => {
      const k = i % INSTANCES;
      const reg = v2Regs[k] as Registration;
      return drivers[i % 8]!.client.call(
        "EVALSHA",
        v2Sha,
        1,
        "roster:{v2}:",
        reg.id,
        reg.owner,
        reg.ttl,
        reg.service,
        v2Json[k] as string,
        i < INSTANCES ? "registered" : "reregistered",
        "healthy",
      );
    };
    for (let i = 0; i < INSTANCES; i++) await v2Beat(i);
    // v3: through the driver, as a registry beats.
    const v3Regs = Array.from(
      { length: INSTANCES },
      (_, i) => registration(i, "v3"),
    );
    for (const [i, reg] of v3Regs.entries()) {
      await drivers[i % 8]!.register(reg);
    }
    const v3Beat: Beat = (i) =>
      drivers[i % 8]!.heartbeat(v3Regs[i % INSTANCES] as Registration);
    // The floors: a script call that does nothing, with what a v3 beat
    // sends (5 keys, 9 arguments), and Moleculer's write.
    const emptySha = await admin.script("LOAD", "#!lua\nreturn 0") as string;
    const emptyArgs = v3Regs.map((reg, i) => [
      ...["ids", "meta", "log", `p:${reg.service}`, `b:${reg.service}`].map(
        (key) => `roster:{v3}:${key}`,
      ),
      reg.owner,
      String(Math.floor(i / 10)),
      "1".padStart(16, "0"),
      String(reg.ttl),
      "h",
      "",
      `${reg.id}\t${reg.service}\tR\t1796000000000\t1796000600000`,
      "",
      "",
    ]);
    const emptyBeat: Beat = (i) =>
      drivers[i % 8]!.client.call(
        "EVALSHA",
        emptySha,
        5,
        ...emptyArgs[i % INSTANCES]!,
      );
    const setexValue = "x".repeat(60);
    const setexBeat: Beat = (i) =>
      drivers[i % 8]!.client.call(
        "SETEX",
        `roster:{setex}:inst-${i % INSTANCES}`,
        TTL / 1000,
        setexValue,
      );
    // Interleaved, the order turned each repetition, each after an idle
    // window of its own: machine noise lands on every side.
    const runs: Record<
      "v2" | "v3" | "emptyScript" | "setex",
      BeatCost[]
    > = { v2: [], v3: [], emptyScript: [], setex: [] };
    const side = (name: keyof typeof runs, beat: Beat) => async () => {
      await idle();
      runs[name].push(await measure(admin, beat, options));
      return 0;
    };
    // The ratio's two sides run next to each other in every repetition;
    // the floors in repetitions of their own.
    await interleave(3, { v2: side("v2", v2Beat), v3: side("v3", v3Beat) });
    await interleave(3, {
      emptyScript: side("emptyScript", emptyBeat),
      setex: side("setex", setexBeat),
    });
    const figure = (costs: BeatCost[], key: keyof BeatCost) =>
      costs.map((cost) => cost[key]);
    const both = (costs: BeatCost[]) => ({
      saturated: spread(figure(costs, "saturated")),
      fleetRate: spread(figure(costs, "fleetRate")),
    });
    return {
      v2: both(runs.v2),
      v3: both(runs.v3),
      emptyScript: both(runs.emptyScript),
      setex: both(runs.setex),
      saturatedRatio: ratios(
        figure(runs.v3, "saturated"),
        figure(runs.v2, "saturated"),
      ),
      fleetRateRatio: ratios(
        figure(runs.v3, "fleetRate"),
        figure(runs.v2, "fleetRate"),
      ),
      idleMicrosPerSecond: spread(idles),
    };
  } finally {
    for (const driver of drivers) await driver.close();
    await admin.flushall();
  }
}
