/**
 * The Redis Sentinel engine for the robustness harness: a master, a replica
 * and a Sentinel on free loopback ports; nodes as processes of their own
 * that find the master through the Sentinel; and the faults a Sentinel's
 * operators meet: a `SENTINEL FAILOVER` while the master runs, a freeze of
 * the master long enough that the Sentinel fails it over and demotes it
 * when it wakes, and a short freeze that fails nothing over.
 *
 * @module
 */

import {
  freePort,
  RedisServer,
  SENTINEL_TIMERS_MS,
  sleep,
} from "../_redis_server.ts";
import { connectEngineDriver, spawnNodeProcess } from "./engine.ts";
import type { Fault, RobustnessEngine } from "./engine.ts";
import { between } from "./node_program.ts";

const MASTER_NAME = "mymaster";
/** How long the Sentinel waits before it calls a silent master down. */
const DOWN_AFTER_MS = 600;

/**
 * Starts the master, its replica and the Sentinel, and returns the engine
 * around them.
 *
 * @param commandTimeout Each node's command timeout, in ms.
 */
export async function redisSentinelEngine(
  commandTimeout: number,
): Promise<RobustnessEngine> {
  const servers: RedisServer[] = [];
  let sentinel: RedisServer | undefined;
  try {
    servers.push(await RedisServer.start());
    servers.push(
      await RedisServer.start([
        "--replicaof",
        "127.0.0.1",
        String(servers[0]!.port),
      ]),
    );
    await servers[1]!.replicaInSync();
    const sentinelPort = freePort();
    sentinel = await RedisServer.start(["--sentinel"], {
      port: sentinelPort,
      config: [
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${servers[0]!.port} 1`,
        `sentinel down-after-milliseconds ${MASTER_NAME} ${DOWN_AFTER_MS}`,
        // A second failover may follow the first after twice this.
        `sentinel failover-timeout ${MASTER_NAME} 1500`,
        "",
      ].join("\n"),
    });
  } catch (error) {
    for (const server of servers) await server[Symbol.asyncDispose]();
    throw error;
  }
  const sentinelServer = sentinel;
  const masterPort = async () =>
    Number(
      ((await (await sentinelServer.admin()).call(
        "SENTINEL",
        "GET-MASTER-ADDR-BY-NAME",
        MASTER_NAME,
      )) as string[])[1],
    );
  const master = async () => {
    const port = await masterPort();
    return servers.find((s) => s.port === port)!;
  };
  const replica = async () => {
    const port = await masterPort();
    return servers.find((s) => s.port !== port)!;
  };
  /** Until the Sentinel names another master than `old`. */
  const switched = async (old: RedisServer, limitMs: number) => {
    const deadline = Date.now() + limitMs;
    while ((await masterPort()) === old.port) {
      if (Date.now() > deadline) {
        throw new Error(`no failover from ${old.port} in ${limitMs} ms`);
      }
      await sleep(25);
    }
  };
  /**
   * The replica, in sync. The Sentinel demotes a master it failed over
   * only 8–18 s after the switch (its publish period times four, then an
   * INFO period); the run goes on meanwhile, and the next failover waits.
   */
  const syncedReplica = async () => {
    const server = await replica();
    await server.replicaInSync(30_000);
    return server;
  };
  const connection = {
    engine: "redis",
    sentinels: [`127.0.0.1:${sentinelServer.port}`],
    name: MASTER_NAME,
    commandTimeout,
  };
  const faults: Fault[] = [
    {
      // The master runs on; writes sent to it while the Sentinel demotes
      // it fail, and its clients are sent to the new master.
      name: "Sentinel failover",
      excusesMissing: true,
      async run(_random, window) {
        const old = await master();
        await syncedReplica();
        const from = Date.now();
        // The Sentinel learns of the replica from the master's INFO, every
        // few seconds, and takes one failover at a time: ask until it may.
        const admin = await sentinelServer.admin();
        while (true) {
          try {
            await admin.call("SENTINEL", "FAILOVER", MASTER_NAME);
            break;
          } catch (error) {
            if (!/NOGOODSLAVE|INPROG/.test(String(error))) throw error;
            if (Date.now() - from > 15_000) throw error;
            await sleep(100);
          }
        }
        await switched(old, 15_000);
        // The old master runs on as a master with no clients (they
        // followed the switch) until the Sentinel demotes it.
        window(from, Date.now());
      },
    },
    {
      // Frozen past down-after: the replica is promoted while the old
      // master sleeps, and the Sentinel demotes it once it wakes.
      name: "freeze the master until it fails over",
      excusesMissing: true,
      async run(random, window) {
        const old = await master();
        await syncedReplica();
        const from = Date.now();
        Deno.kill(old.pid!, "SIGSTOP");
        try {
          await switched(old, 15_000);
          await sleep(between(random, 0, 300));
        } finally {
          Deno.kill(old.pid!, "SIGCONT");
        }
        // It wakes as a master with no clients: they followed the switch.
        window(from, Date.now());
      },
    },
    {
      name: "short freeze",
      excusesMissing: true,
      async run(random, window) {
        const current = await master();
        const from = Date.now();
        Deno.kill(current.pid!, "SIGSTOP");
        // Shorter than down-after: nothing fails over.
        await sleep(between(random, 300, 450));
        Deno.kill(current.pid!, "SIGCONT");
        window(from, Date.now());
      },
    },
  ];
  return {
    name: "redis-sentinel",
    limits: [
      "a master, one replica and one Sentinel; no restarts or lost keys here (the standalone engine has them)",
    ],
    faults,
    connect: () => connectEngineDriver(connection),
    spawn: (spec, sink, fence) =>
      spawnNodeProcess(spec, connection, fence.url, sink),
    async [Symbol.asyncDispose]() {
      await sentinelServer[Symbol.asyncDispose]();
      for (const server of servers) await server[Symbol.asyncDispose]();
      // Let ioredis's Sentinel timers run out before the leak sanitizer
      // looks.
      await sleep(SENTINEL_TIMERS_MS);
    },
  };
}
