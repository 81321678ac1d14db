/**
 * A Redis Cluster on loopback for tests and the robustness harness: three
 * masters, optionally a replica of the master that holds a key, and the
 * operations an operations team runs on it: a slot moved key by key the
 * way `redis-cli --cluster reshard` does, and a `TAKEOVER` failover while
 * the master is frozen.
 */

import type { Redis } from "ioredis";
import { RedisServer, sleep } from "./_redis_server.ts";

const CLUSTER_ARGS = [
  "--cluster-enabled",
  "yes",
  "--cluster-node-timeout",
  "2000",
];

/** Waits for `probe` to return something other than undefined. */
export async function until<T>(
  what: string,
  limitMs: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch { /* not yet */ }
    await sleep(25);
  }
  throw new Error(`${what} did not happen within ${limitMs}ms`);
}

/** Three masters on loopback, slots split evenly, joined with CLUSTER MEET. */
export async function startCluster(): Promise<RedisServer[]> {
  const nodes: RedisServer[] = [];
  for (let i = 0; i < 3; i++) {
    nodes.push(await RedisServer.start(CLUSTER_ARGS));
  }
  const ranges = [[0, 5460], [5461, 10922], [10923, 16383]];
  for (const [i, node] of nodes.entries()) {
    const [from, to] = ranges[i] as number[];
    await (await node.admin()).call(
      "CLUSTER",
      "ADDSLOTSRANGE",
      String(from),
      String(to),
    );
  }
  const first = await nodes[0]!.admin();
  for (const node of nodes.slice(1)) {
    await first.call("CLUSTER", "MEET", "127.0.0.1", String(node.port));
  }
  for (const node of nodes) {
    await until("cluster_state:ok", 15_000, async () => {
      const info = await (await node.admin()).call("CLUSTER", "INFO") as string;
      return info.includes("cluster_state:ok") &&
          info.includes("cluster_known_nodes:3")
        ? true
        : undefined;
    });
  }
  return nodes;
}

/** The slot a key (or hash tag) hashes to. */
export async function slotOf(node: RedisServer, key: string): Promise<number> {
  return Number(await (await node.admin()).call("CLUSTER", "KEYSLOT", key));
}

/** The node that serves a slot as master, by the cluster's own map. */
export async function masterOf(
  nodes: RedisServer[],
  slot: number,
): Promise<RedisServer> {
  for (const node of nodes) {
    const admin = await node.admin();
    try {
      const role = await admin.info("replication");
      if (!role.includes("role:master")) continue;
      const slots = await admin.call("CLUSTER", "SLOTS") as [
        number,
        number,
        [string, number, string],
      ][];
      const range = slots.find(([from, to]) => from <= slot && slot <= to);
      const port = range?.[2][1];
      const owner = nodes.find((n) => n.port === port);
      if (owner) return owner;
    } catch { /* a frozen or restarting node: ask another */ }
  }
  throw new Error(`no master serves slot ${slot}`);
}

async function nodeId(node: RedisServer): Promise<string> {
  return await (await node.admin()).call("CLUSTER", "MYID") as string;
}

/**
 * Adds a replica of `master` to the cluster and waits until it is in sync.
 *
 * @returns The replica's server; the caller disposes of it.
 */
export async function addReplica(master: RedisServer): Promise<RedisServer> {
  const replica = await RedisServer.start(CLUSTER_ARGS);
  const admin = await replica.admin();
  await admin.call("CLUSTER", "MEET", "127.0.0.1", String(master.port));
  const id = await nodeId(master);
  await until("the replica knows its master", 10_000, async () => {
    await admin.call("CLUSTER", "REPLICATE", id);
    return true;
  });
  await replica.replicaInSync();
  return replica;
}

/**
 * Moves a slot from `source` to `target` as `redis-cli --cluster reshard`
 * does: IMPORTING on the target, MIGRATING on the source, `MIGRATE` a few
 * keys at a time with a pause between, then the slot handed over on every
 * master.
 *
 * @returns When the last key moved (from then on, nothing is refused).
 */
export async function moveSlot(
  nodes: RedisServer[],
  slot: number,
  source: RedisServer,
  target: RedisServer,
  options: { keysPerMigrate: number; pauseMs: number },
): Promise<number> {
  const from: Redis = await source.admin();
  const to: Redis = await target.admin();
  const [fromId, toId] = [await nodeId(source), await nodeId(target)];
  await to.call("CLUSTER", "SETSLOT", String(slot), "IMPORTING", fromId);
  await from.call("CLUSTER", "SETSLOT", String(slot), "MIGRATING", toId);
  let lastMigrateAt = Date.now();
  while (true) {
    const keys = await from.call(
      "CLUSTER",
      "GETKEYSINSLOT",
      String(slot),
      String(options.keysPerMigrate),
    ) as string[];
    if (keys.length === 0) break;
    await from.call(
      "MIGRATE",
      "127.0.0.1",
      String(target.port),
      "",
      "0",
      "5000",
      "KEYS",
      ...keys,
    );
    lastMigrateAt = Date.now();
    await sleep(options.pauseMs);
  }
  for (const node of nodes) {
    const admin = await node.admin();
    if ((await admin.info("replication")).includes("role:master")) {
      await admin.call("CLUSTER", "SETSLOT", String(slot), "NODE", toId);
    }
  }
  return lastMigrateAt;
}

/**
 * Freezes `master` (SIGSTOP), lets `replica` take over without its
 * agreement (`CLUSTER FAILOVER TAKEOVER`), and thaws the old master after
 * `frozenMs`; it comes back as the new master's replica.
 */
export async function takeOver(
  master: RedisServer,
  replica: RedisServer,
  frozenMs: number,
): Promise<void> {
  const admin = await replica.admin();
  Deno.kill(master.pid!, "SIGSTOP");
  try {
    await admin.call("CLUSTER", "FAILOVER", "TAKEOVER");
    await until(
      "the replica is master",
      10_000,
      async () =>
        (await admin.info("replication")).includes("role:master") ||
        undefined,
    );
    await sleep(frozenMs);
  } finally {
    Deno.kill(master.pid!, "SIGCONT");
  }
  // The old master comes back as the new one's replica.
  await master.replicaInSync(15_000);
}
