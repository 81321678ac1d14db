/**
 * roster's metrics and spans, through the OpenTelemetry API: a no-op until
 * an application installs a provider (as Deno does with `OTEL_DENO=true`).
 * Instruments are made when a registry is made, not at import, so a
 * provider installed after roster is imported is still used.
 *
 * @module
 */

import {
  type Attributes,
  type Counter,
  type Histogram,
  type Meter,
  metrics,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
  type UpDownCounter,
} from "@opentelemetry/api";
import { errorMessage } from "./_logger.ts";
import type { MeterProvider } from "./registry_options.ts";
import { VERSION } from "./version.ts";

const SCOPE = "roster";

/** Bucket bounds for heartbeat round trips, in seconds: 1 ms to 2.5 s. */
export const HEARTBEAT_SECONDS_BUCKETS: readonly number[] = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
];

/** The instruments a registry records with. */
export interface RegistryInstruments {
  /** Accepted heartbeats. */
  heartbeats: Counter;
  /** Failed heartbeats. */
  heartbeatFailures: Counter;
  /** Heartbeat round trips, in seconds. */
  heartbeatDuration: Histogram;
  /** Registrations created again after the backend lost them. */
  reregistrations: Counter;
  /** Views by state: +1 entering a state, -1 leaving it. */
  views: UpDownCounter;
  /** Leaderships gained and lost, by `change`. */
  leaderChanges: Counter;
  /** Services under eviction protection: +1 when it begins, -1 when it ends. */
  protections: UpDownCounter;
}

/**
 * Makes the instruments for one registry.
 *
 * @param provider Where they record; the global provider by default.
 * @returns The instruments, no-ops when no provider is installed.
 */
export function registryInstruments(
  provider: MeterProvider = metrics.getMeterProvider(),
): RegistryInstruments {
  const meter = provider.getMeter(SCOPE, VERSION) as Meter;
  return {
    heartbeats: meter.createCounter("roster.heartbeats", {
      description: "Heartbeats the backend accepted.",
    }),
    heartbeatFailures: meter.createCounter("roster.heartbeat.failures", {
      description: "Heartbeats that failed or timed out.",
    }),
    heartbeatDuration: meter.createHistogram("roster.heartbeat.duration", {
      description: "Heartbeat round trips.",
      unit: "s",
      advice: { explicitBucketBoundaries: [...HEARTBEAT_SECONDS_BUCKETS] },
    }),
    reregistrations: meter.createCounter("roster.reregistrations", {
      description: "Registrations created again after the backend lost them.",
    }),
    views: meter.createUpDownCounter("roster.views", {
      description:
        "Local views of the registry by state (connecting, live, stale).",
    }),
    leaderChanges: meter.createCounter("roster.leader.changes", {
      description: "Leaderships this process gained or lost.",
    }),
    protections: meter.createUpDownCounter("roster.protections", {
      description:
        "Services whose expiries the eviction safety valve holds now, by service.",
    }),
  };
}

let tracer: Tracer | undefined;

/**
 * Runs one backend call inside a client span, marking a failure with its
 * message (never the error object, whose command arguments could hold the
 * owner token).
 *
 * @param name The span's name, such as `roster.heartbeat`.
 * @param attributes The span's attributes.
 * @param call The call.
 * @returns What the call returns.
 */
export function traced<T>(
  name: string,
  attributes: Attributes,
  call: () => Promise<T>,
): Promise<T> {
  // The API's tracer is a proxy that follows a provider installed later, so
  // one per process serves every beat.
  tracer ??= trace.getTracer(SCOPE, VERSION);
  return tracer.startActiveSpan(
    name,
    { kind: SpanKind.CLIENT, attributes },
    (span) =>
      call().then(
        (value) => {
          span.end();
          return value;
        },
        (error: unknown) => {
          span.setStatus({
            code: SpanStatusCode.ERROR,
            message: errorMessage(error),
          });
          span.end();
          throw error;
        },
      ),
  );
}

/** The registry events the metrics count, as a registry's `on` offers them. */
export type RegistryEventSource = <
  K extends "heartbeat" | "heartbeat_failed" | "reregistered" | "view",
>(
  type: K,
  listener: (
    event: K extends "heartbeat" ? { latency: number }
      : K extends "view" ? { state: string }
      : unknown,
  ) => void,
) => unknown;

/** What a registry records: each of its events, on its instruments. */
export class RegistryMetrics {
  readonly #instruments: RegistryInstruments;
  readonly #attributes: Attributes;
  #viewState: string | undefined;

  /**
   * Creates the recorder of one registry.
   *
   * @param attributes The registry's attributes (env, driver, service).
   * @param provider Where it records; the global provider by default.
   */
  constructor(attributes: Attributes, provider?: MeterProvider) {
    this.#instruments = registryInstruments(provider);
    this.#attributes = attributes;
  }

  /**
   * Records a registry's events as they happen.
   *
   * @param on Listens for a registry event.
   */
  follow(on: RegistryEventSource): void {
    on("heartbeat", ({ latency }) => this.heartbeat(latency));
    on("heartbeat_failed", () => this.heartbeatFailed());
    on("reregistered", () => this.reregistered());
    on("view", ({ state }) => this.view(state));
  }

  /**
   * Records an accepted heartbeat.
   *
   * @param latency Its round trip, in ms.
   */
  heartbeat(latency: number): void {
    this.#instruments.heartbeats.add(1, this.#attributes);
    this.#instruments.heartbeatDuration.record(
      latency / 1000,
      this.#attributes,
    );
  }

  /** Records a failed heartbeat. */
  heartbeatFailed(): void {
    this.#instruments.heartbeatFailures.add(1, this.#attributes);
  }

  /** Records a registration created again. */
  reregistered(): void {
    this.#instruments.reregistrations.add(1, this.#attributes);
  }

  /**
   * Moves the view's count from its last state to `state`.
   *
   * @param state The view's state, or undefined once it closed.
   */
  view(state: string | undefined): void {
    if (state === this.#viewState) return;
    const { views } = this.#instruments;
    if (this.#viewState) {
      views.add(-1, { ...this.#attributes, state: this.#viewState });
    }
    if (state) views.add(1, { ...this.#attributes, state });
    this.#viewState = state;
  }

  /**
   * Records a leadership gained or lost.
   *
   * @param service The service led.
   * @param change Gained or lost.
   */
  leaderChange(service: string, change: "gained" | "lost"): void {
    this.#instruments.leaderChanges.add(1, {
      ...this.#attributes,
      "roster.service": service,
      change,
    });
  }

  /**
   * Records the safety valve holding a service (`on`) or releasing it.
   *
   * @param service The service.
   * @param on Whether it holds now.
   */
  protection(service: string, on: boolean): void {
    this.#instruments.protections.add(on ? 1 : -1, {
      ...this.#attributes,
      "roster.service": service,
    });
  }
}
