/**
 * Redis CPU per heartbeat for a fleet of N nodes, roster against Moleculer
 * with its Redis discoverer, in the same run on the same redis-server; and
 * Redis CPU as the number of watching processes grows. Nodes and watchers
 * are hosted many to a process, each with its own connections, so that 200
 * of them fit on a small machine; what Redis does per node is the same as
 * with a process each.
 *
 * How it stays honest on a shared machine:
 * - each repetition measures every side and Redis idle (nothing connected)
 *   over equal windows, the order turned every repetition; figures are the
 *   min / median / max of the repetitions, ratios taken inside each;
 * - Redis's idle CPU of the same repetition is taken out of every window;
 * - CPU is divided by the heartbeats the nodes sent (roster's hosts count
 *   them; each Moleculer beat is one `SETEX`), not by every `EVALSHA`:
 *   roster's purge offers are reported on a line of their own;
 * - equal work: a Moleculer node discovers the whole cluster as it beats,
 *   so roster is measured both without a view and with each node keeping a
 *   cached view of the service.
 */

import type { Redis } from "ioredis";
import type { RedisServer } from "../tests/_redis_server.ts";
import { redisCpuMicros } from "./heartbeat_cost.ts";
import { type Lines, sleep, spawnLines } from "./_process.ts";
import { interleave, ratios, type Spread, spread } from "./_spread.ts";

const HOST = new URL("./_roster_nodes.ts", import.meta.url).pathname;
const PEER = new URL("./peer/", import.meta.url).pathname;
const INTERVAL_S = 1;
const TTL_S = 3;

/** One fleet size: µs of Redis CPU per heartbeat, idle taken out. */
export interface FleetCost {
  nodes: number;
  roster: Spread;
  /** roster nodes that each keep a cached view of the service. */
  rosterWithView: Spread;
  moleculer: Spread;
  /** roster ÷ Moleculer, per repetition. */
  ratio: Spread;
  /** roster with views ÷ Moleculer, per repetition: equal work. */
  ratioWithView: Spread;
  /** roster `EVALSHA`s other than heartbeats (purge offers), per heartbeat. */
  purgeOffersPerBeat: Spread;
  /** Redis's idle CPU, µs per second. */
  idleMicrosPerSecond: Spread;
}

/** Redis CPU with 20 nodes beating, by watcher count, idle taken out. */
export interface WatcherCost {
  /** µs of Redis CPU per second with one watcher. */
  one: Spread;
  /** µs of Redis CPU per second with `many` watchers. */
  many: Spread;
  manyCount: number;
  /** many ÷ one, per repetition. */
  ratio: Spread;
  /** Commands per watcher per second that the extra watchers added. */
  perWatcherPerSecond: Record<string, number>;
}

function calls(info: string, command: string): number {
  return Number(
    new RegExp(`^cmdstat_${command}:calls=(\\d+)`, "m").exec(info)?.[1] ?? 0,
  );
}

function hostRoster(url: string, count: number, mode: string): Lines {
  return spawnLines(Deno.execPath(), [
    "run",
    "-A",
    "--quiet",
    HOST,
    url,
    String(count),
    String(INTERVAL_S * 1000),
    String(TTL_S * 1000),
    mode,
  ]);
}

function hostMoleculer(url: string, nats: string, count: number): Lines {
  return spawnLines("node", [
    "moleculer_nodes.mjs",
    String(count),
    url,
    nats,
    String(INTERVAL_S),
    String(TTL_S),
  ], { cwd: PEER });
}

async function stop(host: Lines): Promise<void> {
  host.child.kill("SIGTERM");
  await host.status;
}

/** Runs `measure` with a host, stopped (and Redis flushed) whatever happens. */
async function withHost<T>(
  admin: Redis,
  host: Lines,
  measure: () => Promise<T>,
): Promise<T> {
  try {
    await host.waitFor(/"started"/, 120_000);
    await sleep(TTL_S * 1000);
    return await measure();
  } finally {
    await stop(host);
    await admin.flushall();
  }
}

/** The heartbeats a roster host's nodes have sent so far. */
async function beatsSent(host: Lines): Promise<number> {
  const from = host.lines.length;
  await host.write("count\n");
  const deadline = Date.now() + 10_000;
  for (;;) {
    const line = host.lines.slice(from).find((l) =>
      l.text.includes('"type":"count"')
    );
    if (line) return JSON.parse(line.text).beats;
    if (Date.now() > deadline) throw new Error("the host did not count");
    await sleep(5);
  }
}

/**
 * Redis CPU and commands over a window, and the heartbeats `sent` counted
 * between the same two points as the commands.
 */
async function window(
  admin: Redis,
  ms: number,
  sent: () => Promise<number> = () => Promise.resolve(0),
): Promise<{ cpu: number; info: string; beats: number }> {
  await admin.config("RESETSTAT");
  const beatsBefore = await sent();
  const before = await redisCpuMicros(admin);
  await sleep(ms);
  const cpu = (await redisCpuMicros(admin)) - before;
  const beats = (await sent()) - beatsBefore;
  return { cpu, info: await admin.info("commandstats"), beats };
}

/**
 * Redis CPU per heartbeat at each fleet size, for roster (without and
 * with views) and Moleculer, interleaved.
 *
 * @param server The redis-server; flushed between runs.
 * @param nats A NATS URL for Moleculer's transporter.
 * @param sizes Fleet sizes.
 * @param options How long each window lasts, and how many repetitions.
 * @returns One row per size.
 */
export async function measureFleetCost(
  server: RedisServer,
  nats: string,
  sizes: number[],
  options: { windowMs: number; repetitions: number },
): Promise<FleetCost[]> {
  const admin = await server.admin();
  const { windowMs, repetitions } = options;
  const rows: FleetCost[] = [];
  for (const nodes of sizes) {
    const idle: number[] = [];
    const offers: number[] = [];
    // Each side's CPU in a window, idle not yet taken out, and its beats.
    const raw = {
      roster: [] as { cpu: number; beats: number }[],
      rosterWithView: [] as { cpu: number; beats: number }[],
      moleculer: [] as { cpu: number; beats: number }[],
    };
    const roster = (mode: "nodes" | "nodes-view") => async () => {
      const host = hostRoster(server.url, nodes, mode);
      const { cpu, info, beats } = await withHost(
        admin,
        host,
        () => window(admin, windowMs, () => beatsSent(host)),
      );
      if (mode === "nodes") {
        offers.push((calls(info, "evalsha") - beats) / beats);
      }
      raw[mode === "nodes" ? "roster" : "rosterWithView"].push({ cpu, beats });
      return 0;
    };
    await interleave(repetitions, {
      idle: async () => {
        const { cpu } = await window(admin, windowMs);
        idle.push(cpu);
        return 0;
      },
      roster: roster("nodes"),
      rosterWithView: roster("nodes-view"),
      moleculer: async () => {
        const host = hostMoleculer(server.url, nats, nodes);
        const { cpu, info } = await withHost(
          admin,
          host,
          () => window(admin, windowMs),
        );
        // Each Moleculer heartbeat writes the node's BEAT key with SETEX.
        raw.moleculer.push({ cpu, beats: calls(info, "setex") });
        return 0;
      },
    });
    // Pushes happen in run order: index i of each side is repetition i.
    const perBeat = (side: { cpu: number; beats: number }[]) =>
      side.map(({ cpu, beats }, i) => (cpu - idle[i]!) / beats);
    const ours = perBeat(raw.roster);
    const viewed = perBeat(raw.rosterWithView);
    const theirs = perBeat(raw.moleculer);
    rows.push({
      nodes,
      roster: spread(ours),
      rosterWithView: spread(viewed),
      moleculer: spread(theirs),
      ratio: ratios(ours, theirs),
      ratioWithView: ratios(viewed, theirs),
      purgeOffersPerBeat: spread(offers),
      idleMicrosPerSecond: spread(idle.map((cpu) => cpu / (windowMs / 1000))),
    });
  }
  return rows;
}

/**
 * Redis CPU per second with 20 nodes beating, with one watcher and with
 * `many`, interleaved, Redis's idle CPU (nothing connected) taken out.
 *
 * @param server The redis-server; flushed after.
 * @param many How many watchers to compare with one.
 * @param options How long each window lasts, and how many repetitions.
 * @returns The figures.
 */
export async function measureWatcherCost(
  server: RedisServer,
  many: number,
  options: { windowMs: number; repetitions: number },
): Promise<WatcherCost> {
  const admin = await server.admin();
  const { windowMs, repetitions } = options;
  const seconds = windowMs / 1000;
  const idle: number[] = [];
  const cpu = { one: [] as number[], many: [] as number[] };
  const infos = { one: [] as string[], many: [] as string[] };
  const watched = (count: number, into: "one" | "many") => async () => {
    const nodes = hostRoster(server.url, 20, "nodes");
    const measured = await withHost(admin, nodes, () =>
      withHost(
        admin,
        hostRoster(server.url, count, "watch"),
        () => window(admin, windowMs),
      ));
    cpu[into].push(measured.cpu);
    infos[into].push(measured.info);
    return 0;
  };
  await interleave(repetitions, {
    idle: async () => {
      idle.push((await window(admin, windowMs)).cpu);
      return 0;
    },
    one: watched(1, "one"),
    many: watched(many, "many"),
  });
  const net = (side: number[]) =>
    side.map((value, i) => (value - idle[i]!) / seconds);
  const one = net(cpu.one);
  const manyNet = net(cpu.many);
  const perWatcherPerSecond: Record<string, number> = {};
  for (const command of ["evalsha", "evalsha_ro", "xread", "get", "hget"]) {
    const added = infos.many.map((info, i) =>
      (calls(info, command) - calls(infos.one[i]!, command)) /
      (many - 1) / seconds
    );
    perWatcherPerSecond[command] = spread(added).median;
  }
  return {
    one: spread(one),
    many: spread(manyNet),
    manyCount: many,
    ratio: ratios(manyNet, one),
    perWatcherPerSecond,
  };
}
