/**
 * Starts real PostgreSQL servers for tests: `initdb` into a temp dir and
 * `postgres` on a free loopback port with `fsync=off`, as an unprivileged
 * user (the `postgres` account when the tests run as root). Tests can stop,
 * restart and kill them. Under CI=true a test that needs PostgreSQL fails,
 * never skips, when no server can be started.
 */

import { serverTest } from "./_server_test.ts";
// @ts-types="@types/pg"
import pg from "pg";
import {
  freePort,
  PortTakenError,
  sleep,
  startOnFreePort,
} from "./_redis_server.ts";

function findBin(): string | undefined {
  for (const version of ["17", "16", "15", "14", "13"]) {
    const dir = `/usr/lib/postgresql/${version}/bin`;
    try {
      if (Deno.statSync(`${dir}/initdb`).isFile) return dir;
    } catch { /* not this one */ }
  }
  return undefined;
}

/** Where initdb and postgres are, if installed. */
export const POSTGRES_BIN: string | undefined = findBin();
const AS_ROOT = Deno.uid() === 0;

/** Runs a PostgreSQL program as the unprivileged user. */
function command(program: string, args: string[]): Deno.Command {
  const path = `${POSTGRES_BIN}/${program}`;
  return AS_ROOT
    ? new Deno.Command("runuser", {
      args: ["-u", "postgres", "--", path, ...args],
      stdout: "null",
      stderr: "piped",
    })
    : new Deno.Command(path, { args, stdout: "null", stderr: "piped" });
}

/** Defines a test that needs PostgreSQL: skipped locally without it, failed under CI. */
export function postgresTest(
  name: string,
  fn: (t: Deno.TestContext) => Promise<void>,
): Deno.TestDefinition {
  return serverTest(
    POSTGRES_BIN ? undefined : "PostgreSQL (initdb, postgres) is not installed",
    name,
    fn,
  );
}

/** A PostgreSQL server of a test's own. */
export class PostgresServer implements AsyncDisposable {
  readonly port: number;
  readonly #dir: string;
  readonly #durable: boolean;
  #process: Deno.ChildProcess | undefined;
  #admin: pg.Pool | undefined;

  private constructor(dir: string, port: number, durable: boolean) {
    this.#dir = dir;
    this.port = port;
    this.#durable = durable;
  }

  /**
   * Creates a cluster in a temp dir and starts it: with `fsync`,
   * `synchronous_commit` and `full_page_writes` off (fast, for tests),
   * or with PostgreSQL's durable defaults when `durable` is set.
   */
  static async start(
    options: { durable?: boolean } = {},
  ): Promise<PostgresServer> {
    const dir = await Deno.makeTempDir({ prefix: "roster-pg-" });
    if (AS_ROOT) {
      await new Deno.Command("chown", { args: ["postgres", dir] }).output();
    }
    const init = await command("initdb", [
      "-D",
      `${dir}/data`,
      "-U",
      "postgres",
      "--auth=trust",
      "--no-sync",
      "-E",
      "UTF8",
    ]).output();
    if (!init.success) {
      throw new Error(
        `initdb failed: ${new TextDecoder().decode(init.stderr)}`,
      );
    }
    try {
      return await startOnFreePort(async () => {
        const server = new PostgresServer(
          dir,
          freePort(),
          options.durable ?? false,
        );
        try {
          await server.#spawn();
          return server;
        } catch (error) {
          await server.stop("SIGKILL");
          throw error;
        }
      });
    } catch (error) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw error;
    }
  }

  /** A connection URL for the superuser. */
  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  async #spawn(): Promise<void> {
    this.#process = command("postgres", [
      "-D",
      `${this.#dir}/data`,
      "-p",
      String(this.port),
      "-h",
      "127.0.0.1",
      "-k",
      this.#dir,
      ...(this.#durable ? [] : [
        "-c",
        "fsync=off",
        "-c",
        "synchronous_commit=off",
        "-c",
        "full_page_writes=off",
      ]),
      "-c",
      "max_connections=200",
    ]).spawn();
    this.#process.stderr.cancel().catch(() => {});
    const deadline = Date.now() + 20_000;
    for (;;) {
      const probe = new pg.Client({
        connectionString: this.url,
        connectionTimeoutMillis: 1_000,
      });
      probe.on("error", () => {});
      try {
        await probe.connect();
        const [row] = (await probe.query(
          "select current_setting('data_directory') as dir",
        )).rows as { dir: string }[];
        if (row?.dir !== `${this.#dir}/data`) {
          throw new PortTakenError(
            `port ${this.port} is taken by another server (${row?.dir})`,
          );
        }
        return;
      } catch (error) {
        if (error instanceof PortTakenError) throw error;
        if (Date.now() > deadline) {
          throw new Error(`postgres did not start: ${error}`);
        }
        await sleep(50);
      } finally {
        await probe.end().catch(() => {});
      }
    }
  }

  /** Runs one of the test's own queries; returns its rows. */
  async query(
    text: string,
    values: unknown[] = [],
  ): Promise<Record<string, unknown>[]> {
    if (!this.#admin) {
      this.#admin = new pg.Pool({ connectionString: this.url, max: 2 });
      this.#admin.on("error", () => {});
    }
    return (await this.#admin.query(text, values)).rows;
  }

  /** Stops the server (a fast shutdown by default; `SIGKILL` for a crash). */
  async stop(signal: Deno.Signal = "SIGINT"): Promise<void> {
    await this.#admin?.end().catch(() => {});
    this.#admin = undefined;
    const process = this.#process;
    this.#process = undefined;
    if (!process) return;
    // The postmaster itself, not the runuser wrapper, takes the signal.
    try {
      const pid = Number(
        (await Deno.readTextFile(`${this.#dir}/data/postmaster.pid`)).split(
          "\n",
        )[0],
      );
      Deno.kill(pid, signal);
    } catch {
      try {
        process.kill(signal);
      } catch { /* gone */ }
    }
    await process.status;
    if (signal === "SIGKILL") {
      // A killed postmaster leaves its children and pid file behind.
      await new Deno.Command("pkill", {
        args: ["-9", "-f", `${this.#dir}/data`],
      }).output();
      await Deno.remove(`${this.#dir}/data/postmaster.pid`).catch(() => {});
    }
  }

  /**
   * Sends a signal to every process of this server, the postmaster and its
   * children (backends, checkpointer, WAL writer): SIGSTOP and SIGCONT
   * freeze and thaw it whole.
   */
  async signalAll(signal: "SIGSTOP" | "SIGCONT"): Promise<void> {
    const pid = Number(
      (await Deno.readTextFile(`${this.#dir}/data/postmaster.pid`)).split(
        "\n",
      )[0],
    );
    const name = signal.slice(3);
    // The postmaster first on a stop, so it forks no backend that the
    // stop of its children would miss; last on a continue.
    const steps = [
      ["kill", `-${name}`, String(pid)],
      ["pkill", `-${name}`, "-P", String(pid)],
    ];
    if (signal === "SIGCONT") {
      steps.reverse();
      // runuser (as root) stops itself when its child stops, and would
      // never reap the postmaster again: it takes the SIGCONT too.
      const wrapper = this.#process?.pid;
      if (wrapper !== undefined && wrapper !== pid) {
        steps.unshift(["kill", "-CONT", String(wrapper)]);
      }
    }
    for (const [cmd, ...args] of steps) {
      await new Deno.Command(cmd!, { args }).output();
    }
  }

  /** Restarts with its data, after `downtimeMs` down. */
  async restart(downtimeMs = 0): Promise<void> {
    await this.stop();
    if (downtimeMs) await sleep(downtimeMs);
    await this.#spawn();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop("SIGKILL");
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}
