/**
 * The etcd engine for the robustness harness: a real etcd on free loopback
 * ports, nodes as processes of their own, and the faults an operations team
 * meets: freezes (SIGSTOP), restarts with and without data, and keys the
 * driver uses lost. etcd's leases are whole seconds, 2 at least, so this
 * engine runs with a 2 s ttl.
 *
 * @module
 */

import { EtcdServer } from "../_etcd_server.ts";
import {
  connectEngineDriver,
  freezeFault,
  spawnNodeProcess,
  timedFault,
} from "./engine.ts";
import type { Fault, RobustnessEngine } from "./engine.ts";
import { between } from "./node_program.ts";

/**
 * Starts etcd and returns the engine around it.
 *
 * @param env The env the run uses, whose keys the faults delete.
 */
export async function etcdEngine(env: string): Promise<RobustnessEngine> {
  const server = await EtcdServer.start();
  // etcd revokes expired leases about twice a second.
  const settings = {
    ttl: 2_000,
    interval: 650,
    heartbeatTimeout: 300,
    expiryLagMs: 500,
  };
  const connection = {
    engine: "etcd",
    url: server.url,
    commandTimeout: settings.heartbeatTimeout,
  };
  const freeze = (min: number, max: number) =>
    freezeFault(min, max, (name) => Deno.kill(server.pid, name));
  // What a "lose keys" fault may delete: the env's instances, the epoch.
  const losses = [`roster/${env}/i/`, "roster/epoch", `roster/${env}/`];
  const faults: Fault[] = [
    // etcd's lessor revokes, as it resumes, the leases it did not hear
    // from (the driver's limitations.dropsLiveEntries).
    {
      name: "freeze",
      excusesMissing: true,
      expiresLiving: true,
      run: freeze(2_500, 6_000),
    },
    { name: "short freeze", excusesMissing: true, run: freeze(900, 1_400) },
    {
      name: "restart with data",
      excusesMissing: true,
      // etcd's leader renews every lease as it comes back (the driver's
      // limitations.restartRenewsLeases).
      renewsLeases: true,
      run: timedFault((random) => server.restart(between(random, 100, 600))),
    },
    {
      name: "restart without data",
      excusesMissing: true,
      run: timedFault((random) =>
        server.restart(between(random, 0, 300), false)
      ),
    },
    {
      name: "lose keys",
      excusesMissing: true,
      // Deleted keys reach watchers as leaves (limitations.dropsLiveEntries).
      expiresLiving: true,
      async run(random, window) {
        const key = losses[Math.floor(random() * losses.length)]!;
        const client = server.client();
        try {
          await timedFault(() =>
            key.endsWith("/")
              ? client.delete().prefix(key).exec()
              : client.delete().key(key).exec()
          )(random, window);
        } finally {
          client.close();
        }
      },
    },
  ];
  return {
    name: "etcd",
    limits: ["one member: no quorum loss, no leader election among members"],
    settings,
    faults,
    connect: () => connectEngineDriver(connection),
    spawn: (spec, sink, fence) =>
      spawnNodeProcess(spec, connection, fence.url, sink),
    async [Symbol.asyncDispose]() {
      await server[Symbol.asyncDispose]();
    },
  };
}
