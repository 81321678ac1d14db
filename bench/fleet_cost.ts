/**
 * Redis CPU per heartbeat for a fleet of N nodes, roster against Moleculer
 * with its Redis discoverer, in the same run on the same redis-server; and
 * Redis CPU per second as the number of watching processes grows. Nodes
 * and watchers are hosted many to a process, each with its own
 * connections, so that 200 of them fit on a small machine; what Redis does
 * per node is the same as with a process each.
 */

import type { Redis } from "ioredis";
import type { RedisServer } from "../tests/_redis_server.ts";
import { redisCpuMicros } from "./heartbeat_cost.ts";
import { type Lines, sleep, spawnLines } from "./_process.ts";

const HOST = new URL("./_roster_nodes.ts", import.meta.url).pathname;
const PEER = new URL("./peer/", import.meta.url).pathname;
const INTERVAL_S = 1;
const TTL_S = 3;

export interface FleetCost {
  nodes: number;
  /** µs of Redis CPU per heartbeat, idle time included. */
  roster: number;
  moleculer: number;
  rosterBeats: number;
  moleculerBeats: number;
}

export interface WatcherCost {
  watchers: number;
  /** µs of Redis CPU per second, with 20 nodes beating meanwhile. */
  microsPerSecond: number;
}

function calls(info: string, command: string): number {
  return Number(
    new RegExp(`^cmdstat_${command}:calls=(\\d+)`, "m").exec(info)?.[1] ?? 0,
  );
}

function hostRoster(url: string, count: number, mode = "nodes"): Lines {
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

/** Redis CPU and command counts over a window, after the hosts settled. */
async function window(
  admin: Redis,
  ms: number,
): Promise<{ cpu: number; info: string }> {
  await admin.config("RESETSTAT");
  const before = await redisCpuMicros(admin);
  await sleep(ms);
  return {
    cpu: (await redisCpuMicros(admin)) - before,
    info: await admin.info("commandstats"),
  };
}

/**
 * Redis CPU per heartbeat at each fleet size, for both systems.
 *
 * @param server The redis-server; flushed between runs.
 * @param nats A NATS URL for Moleculer's transporter.
 * @param sizes Fleet sizes.
 * @param windowMs How long each measurement lasts.
 * @returns One row per size.
 */
export async function measureFleetCost(
  server: RedisServer,
  nats: string,
  sizes: number[],
  windowMs: number,
): Promise<FleetCost[]> {
  const admin = await server.admin();
  const rows: FleetCost[] = [];
  for (const nodes of sizes) {
    const roster = hostRoster(server.url, nodes);
    await roster.waitFor(/"started"/, 120_000);
    await sleep(TTL_S * 1000);
    const ours = await window(admin, windowMs);
    await stop(roster);
    await admin.flushall();
    const peer = hostMoleculer(server.url, nats, nodes);
    await peer.waitFor(/"started"/, 120_000);
    await sleep(TTL_S * 1000);
    const theirs = await window(admin, windowMs);
    await stop(peer);
    await admin.flushall();
    // A roster heartbeat is one EVALSHA; a Moleculer one writes its BEAT
    // key with SETEX.
    const rosterBeats = calls(ours.info, "evalsha");
    const moleculerBeats = calls(theirs.info, "setex");
    rows.push({
      nodes,
      roster: ours.cpu / rosterBeats,
      moleculer: theirs.cpu / moleculerBeats,
      rosterBeats,
      moleculerBeats,
    });
  }
  return rows;
}

/**
 * Redis CPU per second with 20 nodes beating and N watchers, for each N.
 *
 * @param server The redis-server; flushed after.
 * @param counts Watcher counts.
 * @param windowMs How long each measurement lasts.
 * @returns One row per count.
 */
export async function measureWatcherCost(
  server: RedisServer,
  counts: number[],
  windowMs: number,
): Promise<WatcherCost[]> {
  const admin = await server.admin();
  const nodes = hostRoster(server.url, 20);
  await nodes.waitFor(/"started"/, 60_000);
  const rows: WatcherCost[] = [];
  try {
    for (const watchers of counts) {
      const host = hostRoster(server.url, watchers, "watch");
      await host.waitFor(/"started"/, 120_000);
      await sleep(TTL_S * 1000);
      const { cpu } = await window(admin, windowMs);
      rows.push({ watchers, microsPerSecond: cpu / (windowMs / 1000) });
      await stop(host);
    }
  } finally {
    await stop(nodes);
    await admin.flushall();
  }
  return rows;
}
