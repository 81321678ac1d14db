/**
 * The one list of engines the shared suites run on (conformance, discovery,
 * election, lifecycle), as hono runs one case file against every router:
 * memory, Redis standalone, Sentinel and Cluster, PostgreSQL and etcd. Each
 * engine starts its own servers on free loopback ports. A suite's file
 * calls `Deno.test(engineTest(...))` itself, so reports name that file.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Cluster, type Redis } from "ioredis";
import type { Driver } from "../contract/driver.ts";
import type { ConformanceHarness } from "../contract/conformance.ts";
import { EtcdDriver } from "../drivers/etcd/mod.ts";
import { MemoryDriver } from "../drivers/memory/mod.ts";
import { PostgresDriver } from "../drivers/postgres/mod.ts";
import { RedisDriver } from "../drivers/redis/mod.ts";
import { FakeClock } from "../testing/mod.ts";
import type { RobustnessEngine } from "./robustness/engine.ts";
import { etcdEngine } from "./robustness/etcd_engine.ts";
import { memoryEngine } from "./robustness/memory_engine.ts";
import { postgresEngine } from "./robustness/postgres_engine.ts";
import { redisClusterEngine } from "./robustness/redis_cluster_engine.ts";
import { redisEngine } from "./robustness/redis_engine.ts";
import { redisSentinelEngine } from "./robustness/redis_sentinel_engine.ts";
import { EtcdServer, HAS_ETCD } from "./_etcd_server.ts";
import { serverTest } from "./_server_test.ts";
import { POSTGRES_BIN, PostgresServer } from "./_postgres_server.ts";
import { startCluster } from "./_redis_cluster.ts";
import {
  freePort,
  REDIS_BINARY,
  RedisServer,
  sleep,
  storedEntries,
  trimLog,
} from "./_redis_server.ts";

/** A running engine, as the shared suites reach it. */
export interface EngineBackend extends AsyncDisposable {
  /** A new connection to the engine; the caller closes it. */
  driver(): Promise<Driver>;
  /** Drops an env's change log, as trimming or compaction would. */
  trimChanges(env: string): Promise<void>;
  /** Loses every key, row or revision the drivers wrote (not in memory). */
  loseData?(): Promise<void>;
  /**
   * The ttl and interval the discovery and election suites use: a few
   * hundred ms, or what the engine's leases need (etcd counts whole
   * seconds, at least two).
   */
  timing: { ttl: number; interval: number };
  /** The shortest ttl the engine keeps (etcd: 2 s, its smallest lease); the lifecycle suite's. */
  shortestTtl: number;
  /** The conformance suite's harness: two connections and how to check. */
  conformance(): Promise<ConformanceHarness & AsyncDisposable>;
  /** Checks what only this engine promises, after the conformance suite. */
  afterConformance?(): Promise<void>;
}

/** An engine: its name in test names, what it needs, and how it starts. */
export interface Engine {
  /** As test names show it: "Redis Cluster", "PostgreSQL". */
  name: string;
  /** Why it cannot run here, or undefined when it can. */
  missing: string | undefined;
  /** Whether its client library leaves handles the sanitizers count. */
  leaky?: boolean;
  /** Starts it. */
  start(): Promise<EngineBackend>;
  /** The robustness harness on it: its processes and its faults. */
  robustness: RobustnessOnEngine;
}

/** How the robustness harness runs on an engine. */
export interface RobustnessOnEngine {
  /** The engine's `--driver` name in `deno task robustness`. */
  slug: string;
  /** What CI's short schedule breaks, as its test name says it. */
  faults: string;
  /** The fixed seed of CI's short schedule. */
  seed: number;
  /** How long CI's short schedule runs, in ms. */
  durationMs: number;
  /**
   * Starts the engine's servers for a run.
   *
   * @param env The env the run uses, whose keys or rows faults delete.
   * @param commandTimeout Each node's command timeout, in ms.
   */
  start(env: string, commandTimeout: number): Promise<RobustnessEngine>;
}

/**
 * A test that runs on an engine: skipped where its server is not installed,
 * and failed instead under `CI=true`.
 *
 * @param engine The engine.
 * @param name The test's name.
 * @param fn The test.
 * @returns The definition for `Deno.test`.
 */
export function engineTest(
  engine: Engine,
  name: string,
  fn: (t: Deno.TestContext) => Promise<void>,
): Deno.TestDefinition {
  return serverTest(engine.missing, name, fn, { leaky: engine.leaky });
}

/** Two connections for the conformance suite, closed with the harness. */
async function pairHarness(
  connect: () => Promise<Driver>,
  harness: Omit<ConformanceHarness, "driver" | "peer">,
): Promise<ConformanceHarness & AsyncDisposable> {
  const driver = await connect();
  const peer = await connect();
  return {
    ...harness,
    driver,
    peer,
    async [Symbol.asyncDispose]() {
      await driver.close();
      await peer.close();
    },
  };
}

const SHORT = { ttl: 400, interval: 100 };

const memory: Engine = {
  name: "the memory driver",
  missing: undefined,
  robustness: {
    slug: "memory",
    faults: "process faults",
    seed: 7,
    durationMs: 12_000,
    start: () => Promise.resolve(memoryEngine()),
  },
  start(): Promise<EngineBackend> {
    const driver = new MemoryDriver();
    return Promise.resolve({
      driver: () => Promise.resolve(driver),
      trimChanges: (env) => Promise.resolve(driver.trimChanges(env)),
      timing: SHORT,
      shortestTtl: 400,
      conformance() {
        // The memory driver runs the suite on a fake clock.
        const clock = new FakeClock();
        const fake = new MemoryDriver({ clock });
        return Promise.resolve({
          driver: fake,
          peer: fake,
          ttl: 1000,
          advance: (ms) => clock.tickAsync(ms),
          stored: (env) => Promise.resolve(fake.stored(env)),
          trimChanges: (env) => Promise.resolve(fake.trimChanges(env)),
          [Symbol.asyncDispose]: () => fake.close(),
        });
      },
      [Symbol.asyncDispose]: () => driver.close(),
    });
  },
};

/** A Redis engine's backend: the same checks whatever the topology. */
function redisBackend(
  admin: Redis | Cluster,
  connect: () => Promise<Driver>,
  loseData: () => Promise<void>,
  dispose: () => Promise<void>,
  conformanceConnect: () => Promise<Driver> = connect,
): EngineBackend {
  return {
    driver: connect,
    trimChanges: (env) => trimLog(admin, env),
    loseData,
    timing: SHORT,
    shortestTtl: 400,
    conformance: () =>
      pairHarness(conformanceConnect, {
        ttl: 300,
        advance: sleep,
        stored: (env) => storedEntries(admin, env),
        trimChanges: (env) => trimLog(admin, env),
      }),
    [Symbol.asyncDispose]: dispose,
  };
}

const REDIS_MISSING = REDIS_BINARY
  ? undefined
  : "redis-server is not installed";

const redis: Engine = {
  name: "Redis",
  missing: REDIS_MISSING,
  robustness: {
    slug: "redis",
    faults: "backend and process faults",
    seed: 11,
    durationMs: 30_000,
    start: redisEngine,
  },
  async start(): Promise<EngineBackend> {
    const server = await RedisServer.start();
    const admin = await server.admin();
    const connect = () =>
      RedisDriver.connect({ url: server.url, commandTimeout: 500 });
    return redisBackend(
      admin,
      connect,
      async () => {
        await admin.flushall();
      },
      () => server[Symbol.asyncDispose](),
      () => RedisDriver.connect({ url: server.url }),
    );
  },
};

const redisSentinel: Engine = {
  name: "Redis Sentinel",
  missing: REDIS_MISSING,
  robustness: {
    slug: "redis-sentinel",
    faults: "failovers, freezes and process faults",
    seed: 5,
    durationMs: 30_000,
    start: (_env, commandTimeout) => redisSentinelEngine(commandTimeout),
  },
  async start(): Promise<EngineBackend> {
    const master = await RedisServer.start();
    const sentinelPort = freePort();
    const sentinel = await RedisServer.start(["--sentinel"], {
      port: sentinelPort,
      config: [
        `sentinel monitor mymaster 127.0.0.1 ${master.port} 1`,
        "sentinel down-after-milliseconds mymaster 5000",
        "",
      ].join("\n"),
    });
    const admin = await master.admin();
    const connect = () =>
      RedisDriver.connect({
        sentinels: [`127.0.0.1:${sentinelPort}`],
        name: "mymaster",
        commandTimeout: 500,
      });
    return redisBackend(
      admin,
      connect,
      async () => {
        await admin.flushall();
      },
      async () => {
        await sentinel[Symbol.asyncDispose]();
        await master[Symbol.asyncDispose]();
      },
    );
  },
};

const redisCluster: Engine = {
  name: "Redis Cluster",
  missing: REDIS_MISSING,
  robustness: {
    slug: "redis-cluster",
    faults: "slot migrations, failovers and process faults",
    seed: 3,
    durationMs: 30_000,
    start: redisClusterEngine,
  },
  async start(): Promise<EngineBackend> {
    const nodes = await startCluster();
    const admin = new Cluster(
      nodes.map((n) => ({ host: "127.0.0.1", port: n.port })),
      // Nothing of ioredis's may outlive the test (leak sanitizer).
      { redisOptions: { maxRetriesPerRequest: 1, disconnectTimeout: 0 } },
    );
    const connect = () =>
      RedisDriver.connect({
        clusterNodes: nodes.map((n) => `127.0.0.1:${n.port}`),
        commandTimeout: 500,
      });
    return {
      ...redisBackend(
        admin,
        connect,
        async () => {
          for (const node of nodes) await (await node.admin()).flushall();
        },
        async () => {
          await admin.quit().catch(() => admin.disconnect());
          for (const node of nodes) await node[Symbol.asyncDispose]();
        },
      ),
      async afterConformance() {
        // The suite's envs landed on more than one master.
        const used = await Promise.all(
          nodes.map(async (n) => (await (await n.admin()).dbsize()) > 0),
        );
        assert.ok(
          used.filter(Boolean).length >= 2,
          `keys on ${used.filter(Boolean).length} node(s)`,
        );
      },
    };
  },
};

const postgres: Engine = {
  name: "PostgreSQL",
  missing: POSTGRES_BIN
    ? undefined
    : "PostgreSQL (initdb, postgres) is not installed",
  robustness: {
    slug: "postgres",
    faults: "freezes, write locks, restarts, lost rows and process faults",
    seed: 2,
    durationMs: 30_000,
    start: postgresEngine,
  },
  async start(): Promise<EngineBackend> {
    const server = await PostgresServer.start();
    const connect = () => PostgresDriver.connect({ url: server.url });
    const trimChanges = async (env: string) => {
      await server.query("delete from roster.changes where env = $1", [env]);
    };
    return {
      driver: connect,
      trimChanges: async (env) => {
        // Keeps the last change, as a capped log does once it trims.
        await server.query(
          `delete from roster.changes where env = $1
           and pos < (select max(pos) from roster.changes where env = $1)`,
          [env],
        );
      },
      loseData: async () => {
        await server.query(
          "truncate roster.instances, roster.envs, roster.changes, roster.leaders",
        );
      },
      timing: SHORT,
      shortestTtl: 400,
      conformance: () =>
        pairHarness(connect, {
          ttl: 300,
          advance: sleep,
          stored: async (env) =>
            Number(
              (await server.query(
                "select count(*) as n from roster.instances where env = $1",
                [env],
              ))[0]!.n,
            ),
          trimChanges,
        }),
      [Symbol.asyncDispose]: () => server[Symbol.asyncDispose](),
    };
  },
};

const etcd: Engine = {
  name: "etcd",
  missing: HAS_ETCD ? undefined : "etcd is not installed",
  leaky: true,
  robustness: {
    slug: "etcd",
    // The engine's own settings: etcd's leases are whole seconds.
    faults: "backend and process faults, as its driver's limitations state it",
    seed: 1,
    durationMs: 30_000,
    start: (env) => etcdEngine(env),
  },
  async start(): Promise<EngineBackend> {
    const server = await EtcdServer.start();
    const admin = server.client();
    const connect = () =>
      EtcdDriver.connect({ endpoints: [server.url], requestTimeout: 500 });
    // Compaction drops etcd's history up to now, as a trimmed log would.
    const trimChanges = async () => {
      const revision = (await admin.get("roster/").exec()).header.revision;
      await admin.kv.compact({ revision, physical: true });
    };
    return {
      driver: connect,
      trimChanges,
      loseData: () => server.restart(0, false),
      // etcd's leases are whole seconds, at least two.
      timing: { ttl: 2_000, interval: 300 },
      // A ttl of 1 s gets a 2 s lease: the suite's deadlines follow the lease.
      shortestTtl: 2_000,
      conformance: () =>
        pairHarness(() => EtcdDriver.connect({ endpoints: [server.url] }), {
          // etcd's smallest lease is 2 s, and it revokes expired leases
          // about twice a second.
          ttl: 2_000,
          expirySlackMs: 700,
          advance: sleep,
          stored: async (env) =>
            await admin.getAll().prefix(`roster/${env}/i/`).count(),
          trimChanges,
        }),
      async [Symbol.asyncDispose]() {
        admin.close();
        await server[Symbol.asyncDispose]();
      },
    };
  },
};

/** Every engine, in the order reports show them. */
export const ENGINES: readonly Engine[] = [
  memory,
  redis,
  redisSentinel,
  redisCluster,
  postgres,
  etcd,
];
