/**
 * The Redis engine for the robustness harness: a real redis-server on a
 * free loopback port, nodes as processes of their own, and the faults an
 * operations team meets: freezes (SIGSTOP, long and short), `CLIENT PAUSE`
 * of everything or of writes, restarts with and without data, a restore
 * from an older snapshot, keys lost alone or in pairs, and a replica,
 * which serves the nodes' listings, lagging behind (its replication link
 * stalled).
 *
 * @module
 */

import { RedisServer, sleep } from "../_redis_server.ts";
import { TcpProxy } from "../_tcp_proxy.ts";
import {
  connectEngineDriver,
  freezeFault,
  spawnNodeProcess,
} from "./engine.ts";
import type { Fault, RobustnessEngine } from "./engine.ts";
import { between } from "./node_program.ts";

/** The env's keys a fault may delete, by the names the driver gives them. */
const KEYS = ["ids", "meta", "log", "purge", "p:svc", "b:svc"];

/**
 * Starts a redis-server and returns the engine around it.
 *
 * @param env The env the run uses, whose keys the faults delete.
 * @param commandTimeout Each node's command timeout, in ms.
 */
export async function redisEngine(
  env: string,
  commandTimeout: number,
): Promise<RobustnessEngine> {
  const server = await RedisServer.start();
  // The replica replicates through a proxy, which the lag fault stalls.
  const link = new TcpProxy(server.port);
  const replica = await RedisServer.start([
    "--replicaof",
    "127.0.0.1",
    String(link.port),
  ]);
  await replica.replicaInSync();
  const connection = {
    engine: "redis",
    url: server.url,
    readUrl: replica.url,
    commandTimeout,
  };
  const freeze = (min: number, max: number) =>
    freezeFault(min, max, (name) => Deno.kill(server.pid!, name));
  const pause =
    (min: number, max: number, mode: string): Fault["run"] =>
    async (random, window) => {
      const ms = between(random, min, max);
      const admin = await server.admin();
      const from = Date.now();
      await admin.call("CLIENT", "PAUSE", ms, mode);
      await sleep(ms);
      window(from, Date.now());
    };
  const faults: Fault[] = [
    { name: "freeze", excusesMissing: true, run: freeze(800, 2_500) },
    { name: "short freeze", excusesMissing: true, run: freeze(300, 450) },
    {
      name: "CLIENT PAUSE ALL",
      excusesMissing: true,
      run: pause(300, 450, "ALL"),
    },
    {
      name: "CLIENT PAUSE WRITE",
      excusesMissing: false,
      run: pause(500, 1_500, "WRITE"),
    },
    {
      name: "restart without data",
      excusesMissing: true,
      async run(random, window) {
        const from = Date.now();
        await server.restart(between(random, 0, 300));
        window(from, Date.now());
      },
    },
    {
      name: "restart with data",
      excusesMissing: true,
      async run(random, window) {
        const from = Date.now();
        await server.restartFromDisk(between(random, 100, 600));
        window(from, Date.now());
      },
    },
    {
      name: "restore an older snapshot",
      excusesMissing: true,
      async run(random, window) {
        await server.saveSnapshot();
        // Changes the snapshot will not hold: beats, and whatever the
        // schedule does meanwhile.
        await sleep(between(random, 300, 1_500));
        const from = Date.now();
        await server.restoreSnapshot(between(random, 0, 300));
        window(from, Date.now());
      },
    },
    {
      // Listings read from the replica: a lag must neither shorten a
      // listing nor keep the dead in it past their lease.
      name: "replica lag",
      excusesMissing: false,
      async run(random, window) {
        const from = Date.now();
        link.blackhole();
        await sleep(between(random, 300, 1_500));
        link.heal();
        window(from, Date.now());
      },
    },
    {
      name: "lose keys",
      excusesMissing: true,
      async run(random, window) {
        const first = KEYS[Math.floor(random() * KEYS.length)]!;
        const second = KEYS[Math.floor(random() * KEYS.length)]!;
        const admin = await server.admin();
        const from = Date.now();
        await admin.del(
          ...new Set([first, second].map((key) => `roster:{${env}}:${key}`)),
        );
        window(from, Date.now());
      },
    },
  ];
  return {
    name: "redis",
    limits: [
      "a master and one replica here (listings read from the replica); Sentinel failovers and Cluster slot migrations are the redis-sentinel and redis-cluster engines' faults",
    ],
    faults,
    connect: () => connectEngineDriver(connection),
    spawn: (spec, sink, fence) =>
      spawnNodeProcess(spec, connection, fence.url, sink),
    async [Symbol.asyncDispose]() {
      await replica[Symbol.asyncDispose]();
      await link[Symbol.asyncDispose]();
      await server[Symbol.asyncDispose]();
    },
  };
}
