/**
 * The heartbeat loop: keeps one registration alive, retries with capped
 * backoff, re-registers after the backend lost it, and never throws.
 *
 * @module
 */

import { withDeadline } from "../_deadline.ts";
import type { Attributes } from "@opentelemetry/api";
import { errorMessage, errorStack, logger } from "../_logger.ts";
import { traced } from "../_telemetry.ts";
import { type Clock, monotonicNow, type TimerHandle } from "../clock.ts";
import type {
  Driver,
  HeartbeatResult,
  Registration,
} from "../contract/driver.ts";
import { AlreadyRegisteredError, TimeoutError } from "../errors.ts";
import type { Instance } from "../instance.ts";

const log = logger("heartbeat");

/**
 * How the heartbeat is faring: `healthy` while beats succeed, `failing`
 * while the backend cannot be reached, `conflict` while another owner holds
 * this instance's id.
 */
export type HeartbeatState = "healthy" | "failing" | "conflict";

/** The events a heartbeat loop reports. */
export interface HeartbeatEvents {
  /**
   * A heartbeat succeeded, `latency` ms after it was sent; `termHeld` says
   * whether the backend still names it leader of the term it carried.
   */
  heartbeat: { instance: Instance; latency: number; termHeld?: boolean };
  /** A heartbeat failed; another attempt follows after `retryIn` ms. */
  heartbeat_failed: { error: unknown; attempt: number; retryIn: number };
  /** Heartbeats succeed again after `attempts` failures over `downtime` ms. */
  recovered: { attempts: number; downtime: number };
  /** The backend had lost the registration; it was created again. */
  reregistered: { instance: Instance; previousSeq: number };
  /** Another live owner holds the id; the loop keeps trying to reclaim it. */
  conflict: { error: AlreadyRegisteredError };
  /** The heartbeat state changed. */
  state: { from: HeartbeatState; to: HeartbeatState };
}

/** What a {@linkcode HeartbeatLoop} needs. */
export interface HeartbeatLoopOptions {
  /** The backend. */
  driver: Driver;
  /** The registration to keep alive. */
  registration: Registration;
  /** The instance as registered, whose `seq` re-registration is compared to. */
  instance: Instance;
  /** Time between beats in ms, before jitter. */
  interval: number;
  /** How long one beat may take, in ms. */
  timeout: number;
  /** The clock for timers. */
  clock: Clock;
  /** Receives every event. */
  emit: <K extends keyof HeartbeatEvents>(
    type: K,
    event: HeartbeatEvents[K],
  ) => void;
  /** A source of numbers in [0, 1) for jitter; `Math.random` by default. */
  random?: () => number;
}

/** Spread of every delay, so a fleet started together does not beat in lockstep. */
export const JITTER = 0.1;

/**
 * Sends heartbeats for one registration until stopped. At most one beat is
 * in flight at a time; a beat that overruns its timeout counts as a failure,
 * and no new beat is sent until it settles.
 *
 * @example
 * ```ts
 * import { HeartbeatLoop } from "./heartbeat_loop.ts";
 * import { FakeClock, MemoryDriver } from "@roster/roster/testing";
 * import assert from "node:assert/strict";
 *
 * const clock = new FakeClock();
 * const driver = new MemoryDriver({ clock });
 * const registration = {
 *   id: "api-1", service: "api", env: "default", version: "", addr: "",
 *   meta: {}, hostname: "h", pid: 1, owner: "secret", ttl: 3000, heartbeatInterval: 1000, status: "healthy" as const,
 * };
 * const instance = await driver.register(registration);
 * let beats = 0;
 * const loop = new HeartbeatLoop({
 *   driver, registration, instance, interval: 1000, timeout: 500, clock,
 *   emit: (type) => { if (type === "heartbeat") beats++; },
 * });
 * loop.start();
 * await clock.tickAsync(5000);
 * await loop.stop();
 * assert.ok(beats >= 4);
 * ```
 */
export class HeartbeatLoop {
  readonly #options: HeartbeatLoopOptions;
  readonly #random: () => number;
  #timer: TimerHandle | undefined;
  #inflight: Promise<void> | undefined;
  #stopped = false;
  #again = false;
  #state: HeartbeatState = "healthy";
  #failures = 0;
  #failingSince = 0;
  #seq: number;
  #spanAttributes: Attributes | undefined;

  /**
   * Creates a loop; nothing is sent until {@linkcode HeartbeatLoop.start}.
   *
   * @param options The driver, registration, timing and event sink.
   */
  constructor(options: HeartbeatLoopOptions) {
    this.#options = options;
    this.#random = options.random ?? Math.random;
    this.#seq = options.instance.seq;
  }

  /** The current heartbeat state. */
  get state(): HeartbeatState {
    return this.#state;
  }

  /** Schedules the first beat, one jittered interval from now. */
  start(): void {
    this.#schedule(this.#options.interval);
  }

  /**
   * Beats as soon as no beat is in flight, then goes on as usual; used to
   * publish a changed status without waiting for the next interval.
   */
  beatNow(): void {
    if (this.#stopped) return;
    // The beat in flight may carry the old status: beat again once it lands.
    if (this.#inflight) {
      this.#again = true;
      return;
    }
    if (this.#timer !== undefined) {
      this.#options.clock.clearTimeout(this.#timer);
    }
    this.#timer = this.#options.clock.setTimeout(() => this.#beat(), 0);
  }

  /**
   * Stops scheduling beats.
   *
   * @returns A promise that settles once no beat is in flight.
   */
  stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) {
      this.#options.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    return this.#inflight ?? Promise.resolve();
  }

  #schedule(delay: number): number {
    const jittered = Math.max(
      1,
      Math.round(delay * (1 + JITTER * (2 * this.#random() - 1))),
    );
    if (!this.#stopped) {
      this.#timer = this.#options.clock.setTimeout(
        () => this.#beat(),
        jittered,
      );
    }
    return jittered;
  }

  #beat(): void {
    this.#timer = undefined;
    if (this.#stopped) return;
    if (this.#inflight) {
      // The last beat overran its timeout and has not settled: sending
      // another would only pile requests onto a slow backend.
      this.#failed(new Error("the previous heartbeat is still in flight"));
      return;
    }
    const { clock, driver, registration, timeout } = this.#options;
    const started = monotonicNow(clock);
    this.#spanAttributes ??= {
      "roster.env": registration.env,
      "roster.service": registration.service,
      "roster.instance.id": registration.id,
      "roster.driver": driver.name,
    };
    const call = traced(
      "roster.heartbeat",
      this.#spanAttributes,
      () => driver.heartbeat(registration),
    );
    const inflight = call.then(
      () => {},
      () => {},
    ).finally(() => {
      if (this.#inflight === inflight) this.#inflight = undefined;
    });
    this.#inflight = inflight;
    withDeadline(
      call,
      timeout,
      clock,
      () => new TimeoutError("heartbeat", timeout),
    ).then(
      (result) => this.#succeeded(result, monotonicNow(clock) - started),
      (error: unknown) => this.#failed(error),
    );
  }

  #succeeded(result: HeartbeatResult, latency: number): void {
    if (this.#stopped) return;
    const { emit, registration } = this.#options;
    if (this.#state === "failing") {
      const downtime = this.#options.clock.now() - this.#failingSince;
      log.info(
        "Heartbeat for {id} recovered after {attempts} failed attempts ({downtime}ms)",
        { id: registration.id, attempts: this.#failures, downtime },
      );
      emit("recovered", { attempts: this.#failures, downtime });
    } else if (this.#state === "conflict") {
      log.info("Id {id} is ours again", { id: registration.id });
    }
    this.#failures = 0;
    this.#setState("healthy");
    if (result.reregistered) {
      log.warn(
        "Registration {id} was gone from the {driver} backend; registered it again with seq {seq}",
        {
          id: registration.id,
          driver: this.#options.driver.name,
          seq: result.instance.seq,
        },
      );
      emit("reregistered", {
        instance: result.instance,
        previousSeq: this.#seq,
      });
    }
    this.#seq = result.instance.seq;
    emit("heartbeat", {
      instance: result.instance,
      latency,
      termHeld: result.termHeld,
    });
    this.#schedule(this.#again ? 0 : this.#options.interval);
    this.#again = false;
  }

  #failed(error: unknown): void {
    if (this.#stopped) return;
    const { emit, registration, interval } = this.#options;
    if (error instanceof AlreadyRegisteredError) {
      if (this.#state !== "conflict") {
        log.error(
          "Id {id} is now held by another live owner; this process is not registered and keeps trying to reclaim it",
          { id: registration.id },
        );
        emit("conflict", { error });
      }
      this.#setState("conflict");
      this.#schedule(interval);
      return;
    }
    this.#failures++;
    // Start fast (a blip should not cost a ttl), double, and cap at half the
    // interval: a driver reconnects within that too, so a recovered backend
    // has us back within one interval.
    const base = Math.max(interval / 10, 10) * 2 ** (this.#failures - 1);
    const retryIn = this.#schedule(Math.min(base, interval / 2));
    if (this.#state !== "failing") {
      this.#failingSince = this.#options.clock.now();
      log.warn(
        "Heartbeat for {id} failed: {error}; retrying with backoff (one line per state change)",
        { id: registration.id, error: errorMessage(error) },
      );
      this.#setState("failing");
    }
    log.debug("Heartbeat for {id} failed (attempt {attempt}): {stack}", {
      id: registration.id,
      attempt: this.#failures,
      stack: errorStack(error),
    });
    emit("heartbeat_failed", { error, attempt: this.#failures, retryIn });
  }

  #setState(to: HeartbeatState): void {
    const from = this.#state;
    if (from === to) return;
    this.#state = to;
    this.#options.emit("state", { from, to });
  }
}
