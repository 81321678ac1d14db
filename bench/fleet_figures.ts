/**
 * Fleet figures: real processes registering in one Redis, for roster
 * (runner processes) and for the peer (Moleculer nodes with the Redis
 * discoverer), under the same heartbeat interval and timeout. Measures Redis
 * cost per heartbeat, Redis memory per instance, detection of joins, clean
 * leaves and crashes by a watcher, and the runner's footprint.
 */

import type { Redis } from "ioredis";
import { type Lines, residentBytes, sleep } from "./_process.ts";
import { info, quantile } from "./driver_figures.ts";
import { monitorCommands } from "../tests/_redis_server.ts";

export const INTERVAL_S = 1;
export const TTL_S = 3;

export interface Distribution {
  p50: number;
  p99: number;
  samples: number[];
}

export interface FleetFigures {
  instances: number;
  commandsPerHeartbeat: number;
  commandMix: Record<string, number>;
  redisUsecPerHeartbeat: number;
  bytesPerHeartbeat: number;
  memoryPerInstance: number;
  joinSeenMs: Distribution;
  leaveSeenMs: Distribution;
  crashSeenMs: Distribution;
  listMs: Distribution;
  startupMs?: Distribution;
  idleRssBytes?: number;
}

function distribution(samples: number[]): Distribution {
  return { p50: quantile(samples, 0.5), p99: quantile(samples, 0.99), samples };
}

/** How a system under test starts members and a watcher. */
export interface FleetSystem {
  name: string;
  /** Starts one member; resolves once it says it is up, with when. */
  startMember(
    id: string,
    config?: string,
  ): Promise<{ process: Lines; upAt: number }>;
  /** Starts a watcher; resolves once it follows the registry. */
  startWatcher(): Promise<Lines>;
  /** Parses a watcher line into an event. */
  parseEvent(
    text: string,
  ):
    | { type: "join" | "leave"; id: string; at: number; since?: number }
    | undefined;
  /** One listing by the watcher, in ms. */
  listOnce(watcher: Lines): Promise<number>;
}

async function clientCommands(
  admin: Redis,
  windowMs: number,
): Promise<Map<string, number>> {
  // Not ioredis's own monitor(): a monitored line in the same read as
  // MONITOR's reply breaks its command queue (see monitorCommands).
  const monitor = await monitorCommands(admin);
  await sleep(windowMs);
  await monitor.stop();
  const counts = new Map<string, number>();
  for (const { args, fromLua } of monitor.seen) {
    if (fromLua) continue;
    const name = String(args[0]).toLowerCase();
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

function usecTotal(commandStats: string): number {
  let total = 0;
  for (
    const match of commandStats.matchAll(
      /^cmdstat_([^:]+):calls=\d+,usec=(\d+)/gm,
    )
  ) {
    if (!/^(info|config|monitor)/.test(match[1] as string)) {
      total += Number(match[2]);
    }
  }
  return total;
}

/**
 * Measures one system.
 *
 * @param system How to start its processes.
 * @param admin An admin connection to the Redis both use.
 * @param options How many members, how many leaves and crashes to time.
 */
export async function measureFleet(
  system: FleetSystem,
  admin: Redis,
  options: {
    members: number;
    departures: number;
    windowMs: number;
    heartbeatsOf: (mix: Map<string, number>) => number;
  },
): Promise<FleetFigures> {
  const members = new Map<string, Lines>();
  const stopAll = async () => {
    for (const process of members.values()) {
      await process[Symbol.asyncDispose]();
    }
    members.clear();
  };
  try {
    await admin.flushall();
    await sleep(200);
    const before = info(await admin.info("memory"), "used_memory_dataset");
    const startups: number[] = [];
    const started = await Promise.all(
      Array.from({ length: options.members }, async (_, i) => {
        const id = `${system.name}-${i}`;
        const begin = Date.now();
        const { process, upAt } = await system.startMember(id);
        members.set(id, process);
        startups.push(upAt - begin);
        return process;
      }),
    );
    await sleep(INTERVAL_S * 1000 * 2);
    const after = info(await admin.info("memory"), "used_memory_dataset");
    const idleRss = system.name === "roster"
      ? await residentBytes(started[0]!.child.pid)
      : undefined;

    // Cost: client commands (MONITOR), then bytes and Redis time (INFO).
    const mix = await clientCommands(admin, options.windowMs);
    const heartbeats = options.heartbeatsOf(mix);
    const total = [...mix.values()].reduce((a, b) => a + b, 0);
    await admin.config("RESETSTAT");
    const stats0 = await admin.info("stats");
    await sleep(options.windowMs);
    const stats1 = await admin.info("stats");
    const usec = usecTotal(await admin.info("commandstats"));
    const beatsInWindow = options.members * options.windowMs /
      (INTERVAL_S * 1000);
    const bytes = info(stats1, "total_net_input_bytes") -
      info(stats0, "total_net_input_bytes") +
      info(stats1, "total_net_output_bytes") -
      info(stats0, "total_net_output_bytes");

    // Detection: a watcher sees clean leaves, crashes, and joins.
    await using watcher = await system.startWatcher();
    await sleep(500);
    const seen = (type: string, id: string) =>
      watcher.lines.map((l) => system.parseEvent(l.text)).find((e) =>
        e?.type === type && e.id === id
      );
    const waitSeen = async (type: string, id: string, limitMs: number) => {
      const deadline = Date.now() + limitMs;
      while (Date.now() < deadline) {
        const event = seen(type, id);
        if (event) return event;
        await sleep(5);
      }
      return undefined;
    };
    const leaves: number[] = [];
    const crashes: number[] = [];
    const ids = [...members.keys()];
    for (let i = 0; i < options.departures; i++) {
      const clean = ids[i]!;
      const process = members.get(clean)!;
      members.delete(clean);
      const at = Date.now();
      process.child.kill("SIGTERM");
      const event = await waitSeen("leave", clean, 10_000);
      if (event) leaves.push(event.at - at);
      await process.status;
    }
    for (let i = 0; i < options.departures; i++) {
      const crashed = ids[options.departures + i]!;
      const process = members.get(crashed)!;
      members.delete(crashed);
      const at = Date.now();
      process.child.kill("SIGKILL");
      const event = await waitSeen("leave", crashed, TTL_S * 1000 + 15_000);
      if (event) crashes.push(event.at - at);
      await process.status;
    }
    const joins: number[] = [];
    for (let i = 0; i < options.departures; i++) {
      const id = `${system.name}-new-${i}`;
      const { process, upAt } = await system.startMember(id);
      members.set(id, process);
      const event = await waitSeen("join", id, 10_000);
      // From the registration itself, where the event says when it was.
      if (event) joins.push(event.at - (event.since ?? upAt));
    }
    const lists: number[] = [];
    for (let i = 0; i < 20; i++) lists.push(await system.listOnce(watcher));
    return {
      instances: options.members,
      commandsPerHeartbeat: total / heartbeats,
      commandMix: Object.fromEntries([...mix].sort((a, b) => b[1] - a[1])),
      redisUsecPerHeartbeat: usec / beatsInWindow,
      bytesPerHeartbeat: bytes / beatsInWindow,
      memoryPerInstance: (after - before) / options.members,
      joinSeenMs: distribution(joins),
      leaveSeenMs: distribution(leaves),
      crashSeenMs: distribution(crashes),
      listMs: distribution(lists),
      startupMs: system.name === "roster" ? distribution(startups) : undefined,
      idleRssBytes: idleRss,
    };
  } finally {
    await stopAll();
  }
}
