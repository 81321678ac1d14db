/**
 * The PostgreSQL engine for the robustness harness: a real postgres on a
 * free loopback port (initdb into a temp dir), nodes as processes of their
 * own, and the faults an operations team meets: every postgres process
 * frozen (SIGSTOP, long and short), a lock that stalls the writes (as an
 * `ALTER TABLE` queued behind a long reader does), restarts, and rows or
 * tables the driver uses lost.
 *
 * @module
 */

import { PostgresServer } from "../_postgres_server.ts";
import {
  connectEngineDriver,
  freezeFault,
  spawnNodeProcess,
  timedFault,
} from "./engine.ts";
import type { Fault, RobustnessEngine } from "./engine.ts";
import { between } from "./node_program.ts";

/** What a "lose rows" fault may delete, in the driver's schema. */
const LOSSES = [
  "DELETE FROM roster.instances WHERE env = $1",
  "DELETE FROM roster.envs WHERE env = $1",
  "DELETE FROM roster.changes WHERE env = $1",
  "DELETE FROM roster.leaders WHERE env = $1",
];

/**
 * Starts a postgres and returns the engine around it.
 *
 * @param env The env the run uses, whose rows the faults delete.
 * @param commandTimeout Each node's statement timeout, in ms.
 */
export async function postgresEngine(
  env: string,
  commandTimeout: number,
): Promise<RobustnessEngine> {
  const server = await PostgresServer.start();
  // A heartbeat is one statement, a registration a transaction of several:
  // nodes starting at once need more than the beat's timeout.
  const connection = {
    engine: "postgres",
    url: server.url,
    commandTimeout: Math.max(commandTimeout, 250),
  };
  const freeze = (min: number, max: number) =>
    freezeFault(min, max, (name) => server.signalAll(name));
  const faults: Fault[] = [
    { name: "freeze", excusesMissing: true, run: freeze(800, 2_500) },
    { name: "short freeze", excusesMissing: true, run: freeze(300, 450) },
    {
      // Writes wait; reads go on. A listing must fail or be complete.
      name: "lock that stalls writes",
      excusesMissing: false,
      run: timedFault((random) =>
        server.query(
          `DO $$ BEGIN
             LOCK TABLE roster.instances IN EXCLUSIVE MODE;
             PERFORM pg_sleep(${between(random, 500, 1_500) / 1000});
           END $$`,
        )
      ),
    },
    {
      name: "restart with data",
      excusesMissing: true,
      run: timedFault((random) => server.restart(between(random, 100, 600))),
    },
    {
      name: "lose rows",
      excusesMissing: true,
      async run(random, window) {
        const first = LOSSES[Math.floor(random() * LOSSES.length)]!;
        const second = LOSSES[Math.floor(random() * LOSSES.length)]!;
        await timedFault(async () => {
          for (const statement of new Set([first, second])) {
            await server.query(statement, [env]);
          }
        })(random, window);
      },
    },
  ];
  return {
    name: "postgres",
    limits: [
      "one server: no replica, no failover; fsync off, as in the tests",
    ],
    faults,
    connect: () => connectEngineDriver(connection),
    spawn: (spec, sink, fence) =>
      spawnNodeProcess(spec, connection, fence.url, sink),
    async [Symbol.asyncDispose]() {
      await server[Symbol.asyncDispose]();
    },
  };
}
