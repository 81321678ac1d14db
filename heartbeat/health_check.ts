/**
 * Health checks: an HTTP URL (2xx is healthy, 429 a warning), a TCP address
 * (a connection is healthy), or a command (exit 0 is healthy; `warnExitCode`
 * is a warning), run at an interval, with thresholds so one blip does not
 * flap the registry.
 *
 * @module
 */

import { constants } from "node:os";
import { EventEmitter } from "../_event_emitter.ts";
import { logger } from "../_logger.ts";
import { type Clock, systemClock, type TimerHandle } from "../clock.ts";
import type { HealthStatus } from "../instance.ts";

const log = logger("health");

/** What to check, and how often. Exactly one of `http`, `tcp`, `command`. */
export interface HealthCheckOptions {
  /**
   * An `http://` or `https://` URL; a 2xx answer is healthy, 429 (Too Many
   * Requests) a warning, as in Consul.
   */
  http?: string;
  /** A `host:port`; accepting a connection is healthy. */
  tcp?: string;
  /** A command and its arguments; exit code 0 is healthy. */
  command?: readonly string[];
  /**
   * The exit code of `command` that means a warning (degraded, still
   * serving), such as 1 for Nagios-style checks; none by default.
   */
  warnExitCode?: number;
  /** Time between checks, in ms. */
  interval: number;
  /** How long one check may take, in ms. */
  timeout: number;
  /** Consecutive failures before the status turns `unhealthy`. */
  failures: number;
  /**
   * Consecutive passes (or warnings) before the status turns `healthy` (or
   * `warning`).
   */
  successes: number;
  /** The clock for timers. */
  clock?: Clock;
}

/** The events a {@linkcode HealthCheck} reports. */
export interface HealthCheckEvents {
  /**
   * The status changed; `error` says why when it turned unhealthy or
   * warning.
   */
  change: { status: HealthStatus; error?: string };
  /**
   * One check ran. `output` is the last KiB a command check printed (stdout
   * and stderr), or the status an HTTP check got.
   */
  check: {
    ok: boolean;
    warning?: string;
    error?: string;
    output?: string;
    duration: number;
  };
}

/**
 * Runs a health check at an interval and reports changes of status. The
 * status is `unknown` until the thresholds first decide it.
 *
 * @example
 * ```ts
 * import { HealthCheck } from "@roster/roster";
 * import assert from "node:assert/strict";
 *
 * const check = new HealthCheck({
 *   command: ["true"], interval: 1000, timeout: 500, failures: 3, successes: 1,
 * });
 * assert.deepEqual(await check.checkOnce(), { ok: true });
 * ```
 */
export class HealthCheck {
  readonly #options: HealthCheckOptions;
  readonly #clock: Clock;
  readonly #events = new EventEmitter<HealthCheckEvents>();
  #status: HealthStatus | "unknown" = "unknown";
  #passed = 0;
  #failed = 0;
  #timer: TimerHandle | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  /**
   * Creates a check; nothing runs until `start()`.
   *
   * @param options What to check, and the thresholds.
   */
  constructor(options: HealthCheckOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** `healthy`, `unhealthy`, or `unknown` before the thresholds decided. */
  get status(): HealthStatus | "unknown" {
    return this.#status;
  }

  /**
   * Listens for an event.
   *
   * @param type `change` or `check`.
   * @param listener Called with the event.
   * @returns A function that removes the listener.
   */
  on<K extends keyof HealthCheckEvents>(
    type: K,
    listener: (event: HealthCheckEvents[K]) => void,
  ): () => void {
    return this.#events.on(type, listener);
  }

  /** Checks now, then every interval until stopped. */
  start(): void {
    this.#stopped = false;
    this.#tick();
  }

  /**
   * Stops checking; waits for a check in progress.
   *
   * @returns A promise that resolves once stopped.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#clock.clearTimeout(this.#timer);
    await this.#running;
  }

  /**
   * Resolves once the status is `healthy`.
   *
   * @param signal Ends the wait, rejecting with the signal's reason.
   * @returns A promise that resolves when healthy.
   */
  healthy(signal?: AbortSignal): Promise<void> {
    if (this.#status === "healthy") return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        off();
        reject(signal?.reason);
      };
      const off = this.on("change", ({ status }) => {
        if (status !== "healthy") return;
        off();
        signal?.removeEventListener("abort", onAbort);
        resolve();
      });
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  #tick(): void {
    this.#running = this.checkOnce().then((result) => this.#record(result));
    this.#running.then(() => {
      if (!this.#stopped) {
        this.#timer = this.#clock.setTimeout(
          () => this.#tick(),
          this.#options.interval,
        );
      }
    });
  }

  #record(result: CheckResult): void {
    if (this.#stopped) return;
    // Consecutive results decide: one blip does not flap the registry.
    if (result.ok) [this.#passed, this.#failed] = [this.#passed + 1, 0];
    else [this.#passed, this.#failed] = [0, this.#failed + 1];
    let next: HealthStatus | undefined;
    if (result.ok && this.#passed >= this.#options.successes) {
      next = result.warning === undefined ? "healthy" : "warning";
    }
    if (!result.ok && this.#failed >= this.#options.failures) {
      next = "unhealthy";
    }
    if (!next || next === this.#status) return;
    this.#status = next;
    if (next === "unhealthy") {
      log.warn("The health check failed {n} times in a row: {error}", {
        n: this.#failed,
        error: result.error,
      });
    } else if (next === "warning") {
      log.warn("The health check warns: {warning}", {
        warning: result.warning,
      });
    } else log.info("The health check passes");
    const error = result.error ?? result.warning;
    this.#events.emit("change", {
      status: next,
      ...(error === undefined ? {} : { error }),
    });
  }

  /**
   * Runs the check once, bounded by the timeout.
   *
   * @returns Whether it passed, and why not.
   */
  async checkOnce(): Promise<CheckResult> {
    const started = this.#clock.now();
    const controller = new AbortController();
    const timer = this.#clock.setTimeout(
      () =>
        controller.abort(
          new Error(`timed out after ${this.#options.timeout}ms`),
        ),
      this.#options.timeout,
    );
    let result: CheckResult;
    const output = { text: "" };
    try {
      const warning = await this.#probe(controller.signal, output);
      result = warning === undefined ? { ok: true } : { ok: true, warning };
    } catch (error) {
      result = {
        ok: false,
        error: controller.signal.aborted
          ? String((controller.signal.reason as Error).message)
          : (error as Error)?.message ?? String(error),
      };
    } finally {
      this.#clock.clearTimeout(timer);
    }
    if (output.text) result.output = output.text;
    this.#events.emit("check", {
      ...result,
      duration: this.#clock.now() - started,
    });
    return result;
  }

  /** Runs the probe; resolves with a warning, if it warns; rejects on failure. */
  async #probe(
    signal: AbortSignal,
    output: { text: string },
  ): Promise<string | undefined> {
    const { http, tcp, command } = this.#options;
    if (http) {
      const response = await fetch(http, { signal, redirect: "manual" });
      await response.body?.cancel();
      output.text = `HTTP ${response.status}`;
      if (response.status === 429) return `${http} answered 429`;
      if (response.status < 200 || response.status > 299) {
        throw new Error(`${http} answered ${response.status}`);
      }
      return;
    }
    if (tcp) {
      const at = tcp.lastIndexOf(":");
      await connectOnce(
        tcp.slice(0, at).replace(/^\[|\]$/g, ""),
        Number(tcp.slice(at + 1)),
        signal,
      );
      return;
    }
    if (command?.length) {
      const [program, ...args] = command as [string, ...string[]];
      const code = await runOnce(program, args, signal, output);
      if (code === 0) return;
      const why = `'${command.join(" ")}' exited with ${code}${
        output.text ? `: ${output.text.split("\n").at(-1)}` : ""
      }`;
      if (code === this.#options.warnExitCode) return why;
      throw new Error(why);
    }
    throw new Error("no check configured");
  }
}

/**
 * One check's result: `ok` when it passed or warned (`warning` says why),
 * `error` when it failed; `output` is what it printed.
 */
export interface CheckResult {
  /** Whether it passed (or only warned). */
  ok: boolean;
  /** Why it warns, when it does. */
  warning?: string;
  /** Why it failed, when it did. */
  error?: string;
  /** The last KiB a command printed, or the status an HTTP check got. */
  output?: string;
}

/** The most a command check's output is kept to, in bytes. */
const MAX_OUTPUT_BYTES = 1024;
/** How long a command's pipes may stay open after it exited. */
const PIPE_GRACE_MS = 50;

/** Opens one TCP connection and closes it; rejects on error or abort. */
async function connectOnce(
  host: string,
  port: number,
  signal: AbortSignal,
): Promise<void> {
  // Loaded on first use: a process without a TCP check never pays for it.
  const { createConnection } = await import("node:net");
  return await new Promise((resolve, reject) => {
    const socket = createConnection({ host, port });
    const settle = (error?: unknown) => {
      signal.removeEventListener("abort", onAbort);
      socket.removeAllListeners();
      socket.on("error", () => {});
      socket.destroy();
      if (error === undefined) resolve();
      else reject(error);
    };
    const onAbort = () => settle(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    socket.once("connect", () => settle());
    socket.once("error", (error) => settle(error));
  });
}

/**
 * Runs a command, keeping the last KiB of what it prints; resolves with its
 * exit code (128 + the signal's number when a signal ended it). Killed on
 * abort. A background process that keeps the pipes open cannot stall it:
 * the pipes get a moment after the exit, then are closed.
 */
async function runOnce(
  program: string,
  args: string[],
  signal: AbortSignal,
  output: { text: string },
): Promise<number> {
  // Loaded on first use: a process without a command check never pays for it.
  const [{ spawn }, { Buffer }] = await Promise.all([
    import("node:child_process"),
    import("node:buffer"),
  ]);
  return await new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ["ignore", "pipe", "pipe"] });
    let tail = Buffer.alloc(0);
    const keep = (chunk: Buffer) => {
      tail = Buffer.concat([tail, chunk]).subarray(-MAX_OUTPUT_BYTES);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    const kill = () => child.kill("SIGKILL");
    signal.addEventListener("abort", kill, { once: true });
    child.once("error", (error) => {
      signal.removeEventListener("abort", kill);
      reject(error);
    });
    child.once("exit", (code, name) => {
      signal.removeEventListener("abort", kill);
      let open = 2;
      let finished = false;
      const done = () => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        child.stdout.destroy();
        child.stderr.destroy();
        output.text = tail.toString("utf8").trim();
        if (signal.aborted) reject(signal.reason);
        else resolve(code ?? 128 + ((name && constants.signals[name]) || 0));
      };
      const timer = setTimeout(done, PIPE_GRACE_MS);
      for (const stream of [child.stdout, child.stderr]) {
        if (stream.readableEnded || stream.destroyed) open--;
        else stream.once("close", () => --open === 0 && done());
      }
      if (open === 0) done();
    });
  });
}

/**
 * Keeps a registration's status with a health check: the status the check
 * last settled on, now, and each change after. The one wiring of a check to
 * a registry, for the library's `health` option and the runner's sidecar.
 *
 * @param check A started health check.
 * @param setStatus Publishes a status (`Registry.setStatus`).
 * @returns A function that stops following the check.
 *
 * @example
 * ```ts
 * import { attachHealth, HealthCheck, Registry } from "@roster/roster";
 *
 * await using registry = new Registry({ service: "api", env: "attach-doc" });
 * await registry.start();
 * const check = new HealthCheck({
 *   command: ["true"], interval: 1000, timeout: 500, failures: 1, successes: 1,
 * });
 * check.start();
 * const detach = attachHealth(check, (status) => registry.setStatus(status));
 * detach();
 * await check.stop();
 * ```
 */
export function attachHealth(
  check: HealthCheck,
  setStatus: (status: HealthStatus) => void,
): () => void {
  if (check.status !== "unknown") setStatus(check.status);
  return check.on("change", ({ status }) => setStatus(status));
}
