/**
 * Starts real redis-server processes on free loopback ports, so tests can
 * flush, pause, restart and kill them. Under CI=true a test that needs Redis
 * fails, never skips, when no server can be started.
 */

import { serverTest } from "./_server_test.ts";
import { type Cluster, Redis } from "ioredis";

function findBinary(): string | undefined {
  try {
    const { success } = new Deno.Command("redis-server", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .outputSync();
    return success ? "redis-server" : undefined;
  } catch {
    return undefined;
  }
}

export const REDIS_BINARY: string | undefined = findBinary();

/** Defines a test that needs redis-server: skipped locally without one, failed under CI. */
export function redisTest(
  name: string,
  fn: (t: Deno.TestContext) => Promise<void>,
): Deno.TestDefinition {
  return serverTest(
    REDIS_BINARY ? undefined : "redis-server is not installed",
    name,
    fn,
  );
}

export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** The port a server was started on answers for another process. */
export class PortTakenError extends Error {}

/**
 * Starts a server on ports `start` picks with `freePort`, again (at most
 * `attempts` times) when a port was taken between the look and the bind,
 * by a server another test started meanwhile. `start` cleans up what it
 * started when it throws.
 *
 * @param start Starts the server on new free ports.
 * @param taken Whether an error says a port was taken.
 * @param attempts How many starts at most.
 * @returns The started server.
 */
export async function startOnFreePort<T>(
  start: () => Promise<T>,
  taken: (error: unknown) => boolean = (error) =>
    error instanceof PortTakenError,
  attempts = 5,
): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await start();
    } catch (error) {
      if (attempt >= attempts || !taken(error)) throw error;
    }
  }
}

/**
 * How long a test that connected through Sentinel waits after closing, so
 * that ioredis's timers run out inside it: its connector may hold a retry
 * timer (up to a second) from a failover, and cleaning a failover detector
 * up arms a disconnect timer (2 s, not configurable for Sentinel
 * connections) on sockets already closed.
 */
export const SENTINEL_TIMERS_MS = 2_100;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch (error) {
      if (Date.now() > deadline) {
        throw new Error(`redis-server did not listen on ${port}`, {
          cause: error,
        });
      }
      await sleep(20);
    }
  }
}

/**
 * The pid of the Redis (or Sentinel) answering on `port`, from `INFO
 * server`; undefined when it does not say (it asks for a password).
 */
async function listeningPid(port: number): Promise<number | undefined> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port }).catch(
    (error) => {
      throw new PortTakenError(`port ${port} closed again`, { cause: error });
    },
  );
  // Something that never answers is not ours either.
  const timer = setTimeout(() => conn.close(), 5_000);
  try {
    await conn.write(new TextEncoder().encode("INFO server\r\n"));
    const decoder = new TextDecoder();
    const buffer = new Uint8Array(16_384);
    let text = "";
    while (true) {
      const read = await conn.read(buffer);
      if (read === null) break;
      text += decoder.decode(buffer.subarray(0, read), { stream: true });
      if (text.startsWith("-")) return undefined;
      const pid = /\bprocess_id:(\d+)\r\n/.exec(text)?.[1];
      if (pid) return Number(pid);
    }
    throw new PortTakenError(`port ${port} does not answer as Redis`);
  } catch (error) {
    if (error instanceof PortTakenError) throw error;
    throw new PortTakenError(`port ${port} does not answer as Redis`, {
      cause: error,
    });
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
}

/** One redis-server process. */
export class RedisServer implements AsyncDisposable {
  readonly port: number;
  readonly args: string[];
  #process: Deno.ChildProcess | undefined;
  #dir: string;
  #admin: Redis | undefined;

  readonly #configFile: string | undefined;

  private constructor(
    port: number,
    args: string[],
    dir: string,
    configFile?: string,
  ) {
    this.port = port;
    this.args = args;
    this.#dir = dir;
    this.#configFile = configFile;
  }

  /**
   * Starts a server with no persistence on a free port. A config text, when
   * given, is written to a file that leads the arguments (Sentinel needs one
   * it can rewrite).
   */
  static async start(
    args: string[] = [],
    options: { port?: number; config?: string } = {},
  ): Promise<RedisServer> {
    const dir = await Deno.makeTempDir({ prefix: "roster-redis-" });
    let configFile: string | undefined;
    if (options.config !== undefined) {
      configFile = `${dir}/redis.conf`;
      await Deno.writeTextFile(configFile, options.config);
    }
    const started = async (port: number) => {
      const server = new RedisServer(port, args, dir, configFile);
      try {
        await server.#spawn();
        return server;
      } catch (error) {
        await server.stop("SIGKILL");
        throw error;
      }
    };
    try {
      // A port given is the test's to reuse (a restart): never another.
      return options.port === undefined
        ? await startOnFreePort(() => started(freePort()))
        : await started(options.port);
    } catch (error) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw error;
    }
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.#process?.pid;
  }

  async #spawn(): Promise<void> {
    if (!REDIS_BINARY) throw new Error("redis-server is not installed");
    this.#process = new Deno.Command(REDIS_BINARY, {
      args: [
        ...(this.#configFile ? [this.#configFile] : []),
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        this.#dir,
        "--logfile",
        "",
        "--loglevel",
        "warning",
        ...this.args,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitForPort(this.port);
    // (A TLS port would need a handshake first: it is taken as listened.)
    if (this.args.includes("--tls-port")) return;
    const pid = await listeningPid(this.port);
    if (pid !== undefined && pid !== this.#process.pid) {
      throw new PortTakenError(
        `port ${this.port} is taken by another server (pid ${pid})`,
      );
    }
  }

  /**
   * Waits until this server, a replica, has its link to its master up (in
   * sync), or throws after `limitMs`.
   */
  async replicaInSync(limitMs = 10_000): Promise<void> {
    const deadline = Date.now() + limitMs;
    while (true) {
      try {
        const info = await (await this.admin()).info("replication");
        if (info.includes("master_link_status:up")) return;
      } catch { /* not answering yet */ }
      if (Date.now() > deadline) {
        throw new Error(
          `the replica on ${this.port} did not sync within ${limitMs}ms`,
        );
      }
      await sleep(25);
    }
  }

  /** An admin connection for FLUSHALL, CLIENT PAUSE, INFO and the like. */
  async admin(): Promise<Redis> {
    if (!this.#admin || this.#admin.status === "end") {
      this.#admin = new Redis({
        port: this.port,
        host: "127.0.0.1",
        lazyConnect: true,
        maxRetriesPerRequest: 1,
      });
      // Tests stop and restart the server under it; that is no news.
      this.#admin.on("error", () => {});
      await this.#admin.connect();
    }
    return this.#admin;
  }

  async #closeAdmin(): Promise<void> {
    const admin = this.#admin;
    this.#admin = undefined;
    if (admin && admin.status !== "end") {
      admin.disconnect();
      await sleep(0);
    }
  }

  /** Stops the process (SIGTERM by default, SIGKILL to crash it). */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<void> {
    await this.#closeAdmin();
    const process = this.#process;
    this.#process = undefined;
    if (!process) return;
    try {
      process.kill(signal);
    } catch { /* already gone */ }
    await process.status;
  }

  /** Restarts on the same port with all data lost. */
  async restart(downtimeMs = 0): Promise<void> {
    await this.stop("SIGKILL");
    // A dump an earlier save left would be loaded again.
    await Deno.remove(`${this.#dir}/dump.rdb`).catch(() => {});
    if (downtimeMs) await sleep(downtimeMs);
    await this.#spawn();
  }

  /** Saves the data now (`SAVE`) as the snapshot `restoreSnapshot` goes back to. */
  async saveSnapshot(): Promise<void> {
    const admin = await this.admin();
    await admin.call("SAVE");
    await Deno.copyFile(`${this.#dir}/dump.rdb`, `${this.#dir}/snapshot.rdb`);
  }

  /**
   * Crashes, stays down for `downtimeMs`, and starts again from the last
   * `saveSnapshot`, losing every change since: a restore from an older
   * backup.
   */
  async restoreSnapshot(downtimeMs = 0): Promise<void> {
    await this.stop("SIGKILL");
    await Deno.copyFile(`${this.#dir}/snapshot.rdb`, `${this.#dir}/dump.rdb`);
    if (downtimeMs) await sleep(downtimeMs);
    await this.#spawn();
  }

  /**
   * Shuts down with a save (`SHUTDOWN SAVE`), stays down for `downtimeMs`,
   * then starts again on the same port from what it saved.
   */
  async restartFromDisk(downtimeMs: number): Promise<void> {
    const admin = await this.admin();
    await admin.call("SHUTDOWN", "SAVE").catch(() => {});
    await this.#closeAdmin();
    await this.#process?.status;
    this.#process = undefined;
    await sleep(downtimeMs);
    await this.#spawn();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop("SIGKILL");
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}

/** One command MONITOR saw. */
export interface Monitored {
  /** The command and its arguments. */
  args: string[];
  /** True when a script ran it inside Redis. */
  fromLua: boolean;
  /** When Redis ran it, by Redis's clock, in ms. */
  at: number;
}

/**
 * Watches every command Redis runs, through MONITOR on a connection of its
 * own.
 *
 * ioredis's own `monitor()` is not used: it enters monitoring mode one turn
 * after MONITOR's reply, so a monitored line that arrives in the same read
 * as that reply is taken for the reply to a command nobody sent, and the
 * "Command queue state error" rejects `monitor()`. Here such lines, and the
 * ones still in flight when `stop()` closes the connection, are dropped.
 */
export async function monitorCommands(
  admin: Redis,
): Promise<{ seen: Monitored[]; stop(): Promise<void> }> {
  const seen: Monitored[] = [];
  const monitor = new Redis({
    host: admin.options.host,
    port: admin.options.port,
    monitor: true,
    lazyConnect: true,
    maxRetriesPerRequest: 1,
  });
  monitor.on("error", () => {});
  monitor.on("monitor", (time: string, args: string[], source: string) => {
    seen.push({ args, fromLua: source === "lua", at: Number(time) * 1000 });
  });
  const monitoring = new Promise((resolve) =>
    monitor.once("monitoring", resolve)
  );
  await monitor.connect();
  await monitoring;
  await sleep(20);
  return {
    seen,
    async stop() {
      await sleep(20);
      monitor.disconnect();
      await sleep(0);
    },
  };
}

/** Counts the registry entries Redis holds for an env, expired or not. */
export async function storedEntries(
  client: Redis | Cluster,
  env: string,
  prefix = "roster:",
): Promise<number> {
  return await client.hlen(`${prefix}{${env}}:ids`);
}

/** Drops an env's change log entries, as trimming would. */
export async function trimLog(
  client: Redis | Cluster,
  env: string,
  prefix = "roster:",
): Promise<void> {
  await client.call("XTRIM", `${prefix}{${env}}:log`, "MAXLEN", "0");
}
