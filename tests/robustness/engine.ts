/**
 * What the robustness harness needs of an engine: a backend it starts and
 * can break, drivers on it, nodes (processes of their own where the
 * backend is shared across processes), and the faults it can inject.
 *
 * @module
 */

import type { Driver } from "../../contract/driver.ts";
import type { HealthStatus } from "../../instance.ts";
import { RedisDriver } from "../../drivers/redis/mod.ts";
import { PostgresDriver } from "../../drivers/postgres/mod.ts";
import { EtcdDriver } from "../../drivers/etcd/mod.ts";
import type { NodeSpec } from "./node_program.ts";
import type { RunSettings } from "./history.ts";
import { between } from "./node_program.ts";

/** How a process of its own connects to the engine's backend. */
export interface EngineConnection {
  engine: string;
  url?: string;
  /** Where listings read, when not from `url`: a replica. */
  readUrl?: string;
  /** A Redis Cluster's seed nodes as `host:port`, in place of `url`. */
  clusterNodes?: string[];
  /** Redis Sentinels as `host:port`, in place of `url`, with `name`. */
  sentinels?: string[];
  /** The master's name at the Sentinels. */
  name?: string;
  /** Each command's timeout, in ms. */
  commandTimeout?: number;
}

/** A Redis driver whose listings read from a replica's connection. */
class ReplicaReadsDriver extends RedisDriver {
  readonly #main: RedisDriver;
  readonly #reads: RedisDriver;

  constructor(main: RedisDriver, reads: RedisDriver) {
    super(main.client, { readClient: reads.client });
    this.#main = main;
    this.#reads = reads;
  }

  override async close(): Promise<void> {
    await super.close();
    await this.#reads.close();
    await this.#main.close();
  }
}

/**
 * Connects a driver to a backend from plain data, as a node process
 * receives it.
 *
 * @param connection Which engine and where.
 * @returns The driver; the caller closes it.
 */
export async function connectEngineDriver(
  connection: EngineConnection,
): Promise<Driver> {
  if (connection.engine === "redis") {
    const connect = (url?: string) =>
      RedisDriver.connect({
        url,
        commandTimeout: connection.commandTimeout,
        connectTimeout: 1_000,
      });
    if (connection.clusterNodes || connection.sentinels) {
      return await RedisDriver.connect({
        clusterNodes: connection.clusterNodes,
        sentinels: connection.sentinels,
        name: connection.name,
        commandTimeout: connection.commandTimeout,
        connectTimeout: 1_000,
      });
    }
    if (!connection.readUrl) return await connect(connection.url);
    return new ReplicaReadsDriver(
      await connect(connection.url),
      await connect(connection.readUrl),
    );
  }
  if (connection.engine === "postgres") {
    return await PostgresDriver.connect({
      url: connection.url,
      connectTimeout: 1_000,
      queryTimeout: connection.commandTimeout,
    });
  }
  if (connection.engine === "etcd") {
    return await EtcdDriver.connect({
      endpoints: [connection.url!],
      requestTimeout: connection.commandTimeout,
    });
  }
  throw new Error(
    `No process driver for engine '${connection.engine}'; it runs its nodes in the harness`,
  );
}

/** A report line from a node. */
export type NodeReport = Record<string, unknown> & {
  kind: string;
  node: string;
  t: number;
};

/** A running node, as the harness controls it. */
export interface NodeHandle {
  readonly spec: NodeSpec;
  /** Freezes it (SIGSTOP for a process). */
  pause(): void;
  /** Lets it go on (SIGCONT). */
  resume(): void;
  /** Crashes it (SIGKILL): it neither deregisters nor reports again. */
  kill(): Promise<void>;
  setStatus(status: HealthStatus): void;
  drain(): Promise<void>;
  stop(): Promise<void>;
  /** A watcher's replayed state. */
  state(): Promise<string[]>;
}

/** One way to break the backend. */
export interface Fault {
  name: string;
  /** See `FaultWindow.excusesMissing`. */
  excusesMissing: boolean;
  /** See `FaultWindow.expiresLiving`. */
  expiresLiving?: boolean;
  /** See `FaultWindow.renewsLeases`. */
  renewsLeases?: boolean;
  /**
   * Breaks the backend and mends it. Calls `window` with the moments the
   * backend was broken (from, to) before it resolves.
   */
  run(
    random: () => number,
    window: (from: number, to: number) => void,
  ): Promise<void>;
}

/** An engine under test. */
export interface RobustnessEngine extends AsyncDisposable {
  readonly name: string;
  /**
   * Settings this engine needs in place of the run's (etcd's leases are
   * whole seconds, 2 at least).
   */
  readonly settings?: Partial<RunSettings>;
  /** What this engine cannot break, for the report. */
  readonly limits: string[];
  /** The faults it can inject. */
  readonly faults: Fault[];
  /** A driver for the harness's own reads; the harness closes it. */
  connect(): Promise<Driver>;
  /**
   * Starts a node.
   *
   * @param spec Which node.
   * @param sink Receives its reports.
   * @param fenceUrl Where it writes its terms.
   * @param fence The same register, for nodes in this process.
   */
  spawn(
    spec: NodeSpec,
    sink: (report: NodeReport) => void,
    fence: { url: string; write(request: unknown): boolean },
  ): Promise<NodeHandle>;
}

/**
 * Starts a node as a Deno process of its own, running `node_process.ts`.
 *
 * @param spec Which node.
 * @param connection Where its backend is.
 * @param fenceUrl Where it writes its terms.
 * @param sink Receives its reports.
 * @returns Its handle, once it registered (or started watching).
 */
export async function spawnNodeProcess(
  spec: NodeSpec,
  connection: EngineConnection,
  fenceUrl: string,
  sink: (report: NodeReport) => void,
): Promise<NodeHandle> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      new URL("./node_process.ts", import.meta.url).pathname,
      JSON.stringify(spec),
      JSON.stringify({ ...connection, fenceUrl }),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: Deno.env.get("ROBUSTNESS_STDERR") ? "inherit" : "null",
  }).spawn();
  const stdin = child.stdin.getWriter();
  const waiting: ((report: NodeReport) => boolean)[] = [];
  let alive = true;
  const reading = (async () => {
    const lines = child.stdout.pipeThrough(new TextDecoderStream());
    let buffered = "";
    for await (const chunk of lines) {
      buffered += chunk;
      let end;
      while ((end = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        let report: NodeReport;
        try {
          report = JSON.parse(line) as NodeReport;
        } catch {
          continue;
        }
        for (const wanted of [...waiting]) {
          if (wanted(report)) waiting.splice(waiting.indexOf(wanted), 1);
        }
        if (alive) sink(report);
      }
    }
  })();
  const next = (kind: string, timeoutMs: number) =>
    new Promise<NodeReport>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.splice(waiting.indexOf(wanted), 1);
        reject(new Error(`${spec.name} did not report '${kind}' in time`));
      }, timeoutMs);
      const wanted = (report: NodeReport) => {
        if (report.kind !== kind) return false;
        clearTimeout(timer);
        resolve(report);
        return true;
      };
      waiting.push(wanted);
    });
  const send = (line: string) =>
    stdin.write(new TextEncoder().encode(line + "\n")).catch(() => {});
  const exited = child.status.then(async () => {
    alive = false;
    await reading.catch(() => {});
    await stdin.close().catch(() => {});
  });
  const signal = (name: Deno.Signal) => {
    try {
      child.kill(name);
    } catch { /* gone */ }
  };
  try {
    await next("ready", 30_000);
  } catch (error) {
    signal("SIGKILL");
    await exited;
    throw error;
  }
  const finish = async (command: string) => {
    await send(command);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = await Promise.race([
      exited.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(resolve, 10_000, false);
      }),
    ]);
    clearTimeout(timer);
    if (!done) signal("SIGKILL");
    await exited;
  };
  return {
    spec,
    pause: () => signal("SIGSTOP"),
    resume: () => signal("SIGCONT"),
    async kill() {
      alive = false;
      signal("SIGKILL");
      await exited;
    },
    setStatus: (status) => void send(`status ${status}`),
    drain: () => finish("drain"),
    stop: () => finish("stop"),
    async state() {
      const answer = next("state", 10_000);
      await send("state");
      return (await answer).state as string[];
    },
  };
}

/**
 * A fault whose window is the time `act` took: the backend was broken from
 * its start to its end.
 *
 * @param act Breaks the backend and mends it.
 * @returns The fault's `run`.
 */
export function timedFault(
  act: (random: () => number) => Promise<unknown>,
): Fault["run"] {
  return async (random, window) => {
    const from = Date.now();
    await act(random);
    window(from, Date.now());
  };
}

/**
 * A freeze of the backend's processes for a random time between `min` and
 * `max` ms.
 *
 * @param min The shortest freeze, in ms.
 * @param max The longest freeze, in ms.
 * @param signal Sends SIGSTOP or SIGCONT to every process of the backend.
 * @returns The fault's `run`.
 */
export function freezeFault(
  min: number,
  max: number,
  signal: (name: "SIGSTOP" | "SIGCONT") => unknown,
): Fault["run"] {
  return async (random, window) => {
    const ms = between(random, min, max);
    const from = Date.now();
    await signal("SIGSTOP");
    await new Promise((resolve) => setTimeout(resolve, ms));
    await signal("SIGCONT");
    window(from, Date.now());
  };
}
