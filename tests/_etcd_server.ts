/**
 * Starts real etcd servers for tests, on free loopback ports with a temp
 * data dir, so tests can restart them with or without their data and kill
 * them. Under CI=true a test that needs etcd fails, never skips, when no
 * server can be started.
 */

import { serverTest } from "./_server_test.ts";
import { Etcd3 } from "etcd3";
import { freePort, sleep, startOnFreePort } from "./_redis_server.ts";
import { EtcdDriver } from "../drivers/etcd/mod.ts";
import { Registry, type RegistryOptions } from "../mod.ts";

function findEtcd(): boolean {
  try {
    return new Deno.Command("etcd", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).outputSync().success;
  } catch {
    return false;
  }
}

/** Whether etcd is installed. */
export const HAS_ETCD: boolean = findEtcd();

/** Defines a test that needs etcd: skipped locally without it, failed under CI. */
export function etcdTest(
  name: string,
  fn: (t: Deno.TestContext) => Promise<void>,
): Deno.TestDefinition {
  return serverTest(HAS_ETCD ? undefined : "etcd is not installed", name, fn, {
    leaky: true,
  });
}

/** An etcd server of a test's own. */
export class EtcdServer implements AsyncDisposable {
  readonly port: number;
  readonly #peerPort: number;
  readonly #dir: string;
  #process: Deno.ChildProcess | undefined;
  /** Reads what etcd prints to stderr; done once it exits. */
  #reading: Promise<void> = Promise.resolve();

  private constructor(dir: string) {
    this.#dir = dir;
    this.port = freePort();
    this.#peerPort = freePort();
  }

  /**
   * Starts etcd with a fresh data dir. A port another process took between
   * picking it and etcd binding it makes etcd exit: it starts again on
   * other ports.
   */
  static async start(): Promise<EtcdServer> {
    return await startOnFreePort(
      async () => {
        const server = new EtcdServer(
          await Deno.makeTempDir({ prefix: "roster-etcd-" }),
        );
        try {
          await server.#spawn();
          return server;
        } catch (error) {
          await server[Symbol.asyncDispose]();
          throw error;
        }
      },
      (error) => /address already in use/.test(String(error)),
      3,
    );
  }

  /** The etcd process's id, while it runs. */
  get pid(): number {
    if (!this.#process) throw new Error("etcd is not running");
    return this.#process.pid;
  }

  /** The client URL. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async #spawn(): Promise<void> {
    const peer = `http://127.0.0.1:${this.#peerPort}`;
    this.#process = new Deno.Command("etcd", {
      args: [
        "--data-dir",
        `${this.#dir}/data`,
        "--listen-client-urls",
        this.url,
        "--advertise-client-urls",
        this.url,
        "--listen-peer-urls",
        peer,
        "--initial-advertise-peer-urls",
        peer,
        "--initial-cluster",
        `default=${peer}`,
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const process = this.#process;
    // The end of what etcd said, for an error if it does not come up.
    let said = "";
    const reading = this.#reading = process.stderr.pipeThrough(
      new TextDecoderStream(),
    )
      .pipeTo(
        new WritableStream({
          write(chunk) {
            said = (said + chunk).slice(-2_000);
          },
        }),
      ).catch(() => {});
    let exited = false;
    process.status.then(() => exited = true);
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (exited) {
        await reading;
        this.#process = undefined;
        throw new Error(`etcd exited as it started: ${said.trim()}`);
      }
      const probe = new Etcd3({
        hosts: this.url,
        dialTimeout: 500,
        defaultCallOptions: (context) =>
          context.isStream ? {} : { deadline: Date.now() + 1_000 },
      });
      try {
        await probe.get("probe").exec();
        return;
      } catch (error) {
        if (Date.now() > deadline) {
          throw new Error(
            `etcd did not start within 30 s: ${error}; it said: ${said.trim()}`,
          );
        }
        await sleep(50);
      } finally {
        probe.close();
      }
    }
  }

  /**
   * Stops etcd, by default with SIGKILL: a graceful stop sends clients an
   * HTTP/2 GOAWAY, which can crash Deno 2.9 inside nghttp2
   * (denoland/deno#36788), taking the whole test run down with it.
   */
  async stop(signal: Deno.Signal = "SIGKILL"): Promise<void> {
    const process = this.#process;
    this.#process = undefined;
    if (!process) return;
    try {
      process.kill(signal);
    } catch { /* gone */ }
    await process.status;
    await this.#reading;
  }

  /** Restarts on the same ports; `keepData: false` starts empty. */
  async restart(downtimeMs = 0, keepData = true): Promise<void> {
    await this.stop();
    if (!keepData) {
      await Deno.remove(`${this.#dir}/data`, { recursive: true });
    }
    if (downtimeMs) await sleep(downtimeMs);
    await this.#spawn();
  }

  /**
   * Saves a copy of etcd's data (stopped for the copy, then started
   * again), for {@linkcode EtcdServer.restoreSnapshot}.
   */
  async saveSnapshot(): Promise<void> {
    await this.stop();
    await copyDir(`${this.#dir}/data`, `${this.#dir}/snapshot`);
    await this.#spawn();
  }

  /** Restarts etcd from the copy the last `saveSnapshot` made. */
  async restoreSnapshot(): Promise<void> {
    await this.stop();
    await Deno.remove(`${this.#dir}/data`, { recursive: true });
    await copyDir(`${this.#dir}/snapshot`, `${this.#dir}/data`);
    await this.#spawn();
  }

  /** A client for the test's own requests; close it. */
  client(): Etcd3 {
    return new Etcd3({ hosts: this.url });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop("SIGKILL");
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.remove(to, { recursive: true }).catch(() => {});
  const copied = await new Deno.Command("cp", { args: ["-a", from, to] })
    .output();
  if (!copied.success) throw new Error(`cp -a ${from} ${to} failed`);
}

/**
 * A registry on a driver of its own, for a test that treats it as a
 * process: disposing stops the registry and closes the driver.
 */
export async function etcdRegistry(
  url: string,
  options: Omit<RegistryOptions, "driver"> & { requestTimeout: number },
): Promise<{ driver: EtcdDriver; registry: Registry } & AsyncDisposable> {
  const { requestTimeout, ...registryOptions } = options;
  const driver = await EtcdDriver.connect({ endpoints: [url], requestTimeout });
  const registry = new Registry({ driver, ...registryOptions });
  return {
    driver,
    registry,
    async [Symbol.asyncDispose]() {
      await registry.stop();
      await driver.close();
    },
  };
}
