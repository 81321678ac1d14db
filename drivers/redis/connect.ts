/**
 * Creating and closing ioredis clients for the Redis driver.
 *
 * @module
 */

import { Cluster, Redis, type RedisOptions } from "ioredis";
import { getLogger } from "@logtape/logtape";
import {
  describeTarget,
  redactSecrets,
  type RedisConnectOptions,
} from "./options.ts";

const log = getLogger(["roster", "redis"]);

/** A client the driver made: standalone, Sentinel-managed, or Cluster. */
export type IoRedisClient = Redis | Cluster;

function hostPort(address: string): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(address);
  if (!match) throw new Error(`'${address}' is not host:port`);
  return { host: match[1] as string, port: Number(match[2]) };
}

/**
 * Creates a client that is not yet connected. It fails commands at once
 * while disconnected (no unbounded offline queue) and reconnects by itself.
 *
 * @param options Where Redis is and how to log in.
 * @param role `replica` for a Sentinel replica connection that serves reads.
 * @returns The client.
 */
export function createClient(
  options: RedisConnectOptions,
  role: "master" | "replica" = "master",
): IoRedisClient {
  const url = new URL(options.url ?? "redis://127.0.0.1:6379");
  const tls = url.protocol === "rediss:"
    ? (options.tlsCa ? { ca: options.tlsCa } : {})
    : undefined;
  const auth = {
    username: options.username ??
      (url.username ? decodeURIComponent(url.username) : undefined),
    password: options.password ??
      (url.password ? decodeURIComponent(url.password) : undefined),
  };
  const maxDelay = options.maxReconnectDelay ?? options.commandTimeout ??
    2_000;
  const common: RedisOptions = {
    ...auth,
    tls,
    lazyConnect: true,
    // Fail fast while disconnected instead of queueing without bound; the
    // heartbeat loop retries with backoff.
    enableOfflineQueue: false,
    // A command in flight when the connection drops fails at once, and is
    // never sent again after the reconnect with stale arguments: callers
    // retry with fresh ones.
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeout ?? 2_000,
    disconnectTimeout: 0,
    connectTimeout: options.connectTimeout ?? 5_000,
    retryStrategy: (attempt) => Math.min(25 * 2 ** attempt, maxDelay),
    // A master demoted to a replica answers writes with READONLY: connect
    // again, to whichever node is master now (the failed command is not
    // sent again; the caller retries with fresh arguments).
    reconnectOnError: (error) => error.message.startsWith("READONLY"),
  };
  if (options.clusterNodes?.length) {
    const cluster = new Cluster(options.clusterNodes.map(hostPort), {
      lazyConnect: true,
      enableOfflineQueue: false,
      redisOptions: common,
      scaleReads: options.replicaReads ? "slave" : "master",
      clusterRetryStrategy: (attempt) => Math.min(25 * 2 ** attempt, maxDelay),
    });
    guardClusterAsking(cluster);
    return cluster;
  }
  if (options.sentinels?.length) {
    return new Redis({
      ...common,
      sentinels: options.sentinels.map(hostPort),
      name: options.name,
      // Leave a master the Sentinels replaced at once: one frozen through
      // its failover would otherwise take this connection's writes when it
      // wakes, until the Sentinels demote it seconds later.
      failoverDetector: true,
      role: role === "replica" ? "slave" : "master",
      sentinelUsername: auth.username,
      sentinelPassword: auth.password,
      db: Number(url.pathname.slice(1)) || 0,
    });
  }
  return new Redis({
    ...common,
    host: url.hostname.replace(/^\[|\]$/g, ""),
    port: Number(url.port || 6379),
    db: Number(url.pathname.slice(1)) || 0,
  });
}

/** Clusters whose nodes' `ASKING` replies are already guarded. */
const GUARDED = new WeakSet<object>();

/**
 * Keeps a Cluster client's `ASKING` commands from failing unhandled.
 * While a slot migrates, ioredis sends `ASKING` before a command it was
 * redirected with `ASK` and never handles that reply: with a command
 * timeout, a slow node times it out, and the rejection reaches the process
 * unhandled (which ends a Node.js process). Each node's `asking()` gets a
 * handler; the redirected command reports its own failure.
 *
 * @param client A client; anything but a Cluster is left as it is.
 */
export function guardClusterAsking(client: IoRedisClient): void {
  if (!(client instanceof Cluster) || GUARDED.has(client)) return;
  GUARDED.add(client);
  const guard = (node: Redis) => {
    const asking = node.asking.bind(node);
    node.asking = ((...args: Parameters<Redis["asking"]>) => {
      const reply = asking(...args);
      reply.catch(() => {});
      return reply;
    }) as Redis["asking"];
  };
  client.nodes("all").forEach(guard);
  client.on("+node", guard);
}

/** Why each client's connection last failed, while it is down. */
const LAST_CONNECTION_ERROR = new WeakMap<IoRedisClient, string>();

/**
 * Says why a command failed in the words of the connection's trouble: while
 * disconnected, ioredis refuses commands with "Stream isn't writeable and
 * enableOfflineQueue options is false", where the cause (`ECONNREFUSED`) is
 * what an operator needs.
 *
 * @param client The client the command went to.
 * @param error What the command failed with.
 * @returns The error, or a clearer one with it as the cause.
 */
export function explainCommandError(
  client: IoRedisClient,
  error: unknown,
): unknown {
  const message = String((error as Error)?.message);
  if (!/Stream isn't writeable|Connection is closed/.test(message)) {
    return error;
  }
  const cause = LAST_CONNECTION_ERROR.get(client);
  return new Error(
    `Not connected to Redis${cause ? `: ${cause}` : ""}; reconnecting`,
    { cause: error },
  );
}

/**
 * Logs connection trouble once per change of state, not once per
 * reconnection attempt; the heartbeat loop reports the failures it sees.
 *
 * @param client The client to follow.
 * @param target Its description, without secrets.
 */
export function watchConnection(client: IoRedisClient, target: string): void {
  client.on("error", (error: Error) => {
    LAST_CONNECTION_ERROR.set(client, error.message);
  });
  client.on("ready", () => LAST_CONNECTION_ERROR.delete(client));
  let down = false;
  // Before the first connection, a failure is the connect call's to report.
  let connected = false;
  client.on("error", (error: Error) => {
    if (down || !connected) return;
    down = true;
    log.warn(
      "Lost the connection to Redis at {target}: {error}; reconnecting",
      { target, error: error.message },
    );
  });
  client.on("ready", () => {
    connected = true;
    if (!down) return;
    down = false;
    log.info("Reconnected to Redis at {target}", { target });
  });
}

/**
 * Connects a new client, failing with one clear line that never shows a
 * password. A client that cannot connect is closed, not left retrying.
 *
 * @param options Where Redis is and how to log in.
 * @param role Which node a Sentinel connection goes to.
 * @returns The connected client.
 * @throws {Error} When Redis cannot be reached.
 */
export async function connectClient(
  options: RedisConnectOptions,
  role: "master" | "replica" = "master",
): Promise<IoRedisClient> {
  const client = createClient(options, role);
  watchConnection(client, describeTarget(options));
  // The reason (WRONGPASS, ECONNREFUSED) arrives as an error event; the
  // rejected connect() only says the connection closed.
  let reason: unknown;
  const remember = (error: unknown) => reason ??= error;
  client.on("error", remember);
  // Connecting (the handshake, the ready check's INFO) is bounded by the
  // connect timeout, not by the command timeout meant for a heartbeat: a
  // 100 ms heartbeat timeout would fail a start on a busy Redis.
  const commandTimeout = client instanceof Redis
    ? client.options.commandTimeout
    : undefined;
  if (client instanceof Redis && commandTimeout !== undefined) {
    client.options.commandTimeout = Math.max(
      commandTimeout,
      options.connectTimeout ?? 5_000,
    );
  }
  try {
    await client.connect();
  } catch (cause) {
    await closeClient(client);
    const message = redactSecrets(
      String((reason as Error)?.message ?? cause),
      options,
    );
    // A server that takes the connection and then hangs up, or answers in
    // another protocol, is most likely not Redis: say so rather than EPIPE.
    const notRedis =
      /EPIPE|ECONNRESET|Protocol error|Unknown RESP type|Connection is closed/
        .test(message);
    throw new Error(
      `Cannot connect to Redis at ${describeTarget(options)}: ${
        notRedis
          ? `it did not answer like a Redis server (${message}); check that the URL names a Redis port`
          : message
      }`,
      { cause: reason ?? cause },
    );
  } finally {
    client.off("error", remember);
    if (client instanceof Redis) client.options.commandTimeout = commandTimeout;
  }
  return client;
}

/**
 * Opens an extra connection (a subscriber); one that
 * cannot open is closed, not left retrying. The wait is bounded: a Cluster
 * client's `connect()` may never settle while slots move, and whatever
 * waits for this connection (a watcher's stop, the driver's close) must
 * not wait for ever.
 *
 * @param side The new client.
 * @param timeoutMs How long it may take to open, in ms.
 * @returns It, connected.
 * @throws {Error} When it cannot open in time.
 */
export async function connectSide(
  side: IoRedisClient,
  timeoutMs: number,
): Promise<IoRedisClient> {
  guardClusterAsking(side);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    if (side.status === "wait") {
      const connecting = side.connect();
      // Once the timer wins, the connect may still fail: nobody awaits it.
      connecting.catch(() => {});
      await Promise.race([
        connecting,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(
                  `Cannot open another connection to Redis within ${timeoutMs}ms`,
                ),
              ),
            timeoutMs,
          );
        }),
      ]);
    }
    return side;
  } catch (error) {
    await closeClient(side);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Closes a client without leaving ioredis's timers behind: its disconnect
 * arms a timer that only a later "close" event clears, which never comes for
 * a socket that is already closed. With `disconnectTimeout: 0` that timer
 * fires on the next turn, so waiting one turn releases it.
 *
 * @param client The client.
 */
export async function closeClient(client: IoRedisClient): Promise<void> {
  if (client.status !== "end") client.disconnect();
  await new Promise((resolve) => setTimeout(resolve, 0));
}
