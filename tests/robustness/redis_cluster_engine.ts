/**
 * The Redis Cluster engine for the robustness harness: three masters, each
 * with a replica, on free loopback ports; nodes as processes of their own
 * on a Cluster client; and the faults a Cluster's operators meet: the
 * env's slot moved to another master key by key with pauses between
 * `MIGRATE`s, a `TAKEOVER` failover while the env's master is frozen, and
 * a freeze of that master without one.
 *
 * @module
 */

import { sleep } from "../_redis_server.ts";
import type { RedisServer } from "../_redis_server.ts";
import {
  addReplica,
  masterOf,
  moveSlot,
  slotOf,
  startCluster,
  takeOver,
} from "../_redis_cluster.ts";
import { connectEngineDriver, spawnNodeProcess } from "./engine.ts";
import type { Fault, RobustnessEngine } from "./engine.ts";
import { between } from "./node_program.ts";

/**
 * Starts the Cluster and returns the engine around it.
 *
 * @param env The env the run uses, whose slot the faults move and fail over.
 * @param commandTimeout Each node's command timeout, in ms.
 */
export async function redisClusterEngine(
  env: string,
  commandTimeout: number,
): Promise<RobustnessEngine> {
  const masters = await startCluster();
  const servers: RedisServer[] = [...masters];
  try {
    for (const master of masters) servers.push(await addReplica(master));
  } catch (error) {
    for (const server of servers) await server[Symbol.asyncDispose]();
    throw error;
  }
  const slot = await slotOf(servers[0]!, env);
  /** The replica of a master, by what each server says it follows. */
  const replicaOf = async (master: RedisServer): Promise<RedisServer> => {
    for (const server of servers) {
      const info = await (await server.admin()).info("replication");
      if (
        info.includes("role:slave") &&
        info.includes(`master_port:${master.port}\r\n`)
      ) return server;
    }
    throw new Error(`no replica follows the master on ${master.port}`);
  };
  const connection = {
    engine: "redis",
    clusterNodes: servers.map((server) => `127.0.0.1:${server.port}`),
    commandTimeout,
  };
  const faults: Fault[] = [
    {
      // Beats are refused while the slot is half moved; a listing must
      // fail rather than answer short.
      name: "slot migration",
      excusesMissing: false,
      async run(random, window) {
        const source = await masterOf(servers, slot);
        const others: RedisServer[] = [];
        for (const server of servers) {
          const info = await (await server.admin()).info("replication");
          if (server !== source && info.includes("role:master")) {
            others.push(server);
          }
        }
        const target = others[Math.floor(random() * others.length)]!;
        const from = Date.now();
        const lastMigrateAt = await moveSlot(servers, slot, source, target, {
          keysPerMigrate: 1,
          pauseMs: between(random, 100, 700),
        });
        window(from, lastMigrateAt);
      },
    },
    {
      name: "TAKEOVER failover",
      excusesMissing: true,
      async run(random, window) {
        const master = await masterOf(servers, slot);
        const replica = await replicaOf(master);
        const from = Date.now();
        await takeOver(master, replica, between(random, 300, 1_500));
        window(from, Date.now());
      },
    },
    {
      name: "freeze the master",
      excusesMissing: true,
      async run(random, window) {
        const master = await masterOf(servers, slot);
        const from = Date.now();
        Deno.kill(master.pid!, "SIGSTOP");
        // Shorter than the node timeout (2 s): no automatic failover.
        await sleep(between(random, 300, 1_500));
        Deno.kill(master.pid!, "SIGCONT");
        window(from, Date.now());
      },
    },
  ];
  return {
    name: "redis-cluster",
    limits: [
      "three masters with a replica each; no restarts or lost keys here (the standalone engine has them)",
    ],
    faults,
    connect: () => connectEngineDriver(connection),
    spawn: (spec, sink, fence) =>
      spawnNodeProcess(spec, connection, fence.url, sink),
    async [Symbol.asyncDispose]() {
      for (const server of servers) await server[Symbol.asyncDispose]();
    },
  };
}
