/**
 * The runner's metrics in the Prometheus text format, rendered from the
 * OpenTelemetry instruments the library and the runner record with.
 *
 * @module
 */

import {
  type Counter,
  metrics,
  type ObservableResult,
} from "@opentelemetry/api";
import type { HealthCheckEvents, Instance, Registry } from "../../mod.ts";
import { VERSION } from "../../version.ts";
import {
  type Exposition,
  PrometheusMeterProvider,
} from "./prometheus_meter_provider.ts";
import type { SelfDetail } from "./status_view.ts";
import { recordLatency } from "./status_history.ts";

/** Whether the backend answered, for `roster_up` and the view's age. */
export interface ViewHealth {
  /** The last read reached the backend. */
  up: boolean;
  /** `live`, or `stale` while the backend cannot be reached. */
  view: "live" | "stale";
  /** Seconds since the instances were last read. */
  ageSeconds: number;
  /** The services under eviction protection. */
  protected?: readonly string[];
}

/**
 * How each instrument shows on `/metrics`: the library's under the names
 * the runner has always served, the view's own and the runner's. Any other
 * instrument shows under its own name.
 */
const EXPOSITIONS: Readonly<Record<string, Exposition>> = {
  "roster.heartbeats": { name: "roster_heartbeats_total", labels: {} },
  "roster.heartbeat.failures": {
    name: "roster_heartbeat_failures_total",
    labels: {},
  },
  "roster.heartbeat.duration": {
    name: "roster_heartbeat_latency_seconds",
    labels: {},
  },
  "roster.reregistrations": {
    name: "roster_reregistrations_total",
    labels: {},
  },
  "roster.leader.changes": {
    name: "roster_leader_changes_total",
    labels: { "roster.service": "service", change: "change" },
  },
  // The served view's state and protection are shown below, from the view.
  "roster.views": { name: "roster_views", hidden: true },
  "roster.protections": { name: "roster_protections", hidden: true },
  "roster.runner.up": { name: "roster_up", labels: {} },
  "roster.runner.view.state": {
    name: "roster_view_state",
    labels: { state: "state" },
  },
  "roster.runner.view.age": { name: "roster_view_age_seconds", labels: {} },
  "roster.runner.protection": {
    name: "roster_protection",
    labels: { service: "service" },
  },
  "roster.runner.messages.received": {
    name: "roster_messages_received_total",
    labels: {},
  },
  "roster.runner.watch.events": {
    name: "roster_watch_events_total",
    labels: { type: "type" },
  },
  "roster.runner.instances": {
    name: "roster_instances",
    labels: { service: "service", status: "status" },
  },
};

/**
 * The runner's metrics: one OpenTelemetry pipeline. The library's
 * registries record into `provider` (pass it as their `meterProvider`), the
 * runner adds its own instruments and the served view's gauges, and
 * `render()` is the Prometheus text of them all. Every measurement also
 * reaches the provider installed before (an OTel SDK, or Deno's).
 */
export class RunnerMetrics {
  /** Whether a status server exposes these, so they are worth collecting. */
  served = false;
  /** This process's own instance, as the dashboard details it. */
  self: SelfDetail | undefined;
  /** Where registries record; `render()` reads it. */
  readonly provider: PrometheusMeterProvider = new PrometheusMeterProvider(
    metrics.getMeterProvider(),
  );
  readonly #messages: Counter;
  readonly #watchEvents: Counter;
  /** What the gauges observe at the next render. */
  #view: { instances: readonly Instance[]; health: ViewHealth } = {
    instances: [],
    health: { up: true, view: "live", ageSeconds: 0 },
  };

  /** Creates the runner's instruments. */
  constructor() {
    const meter = this.provider.getMeter("roster.runner", VERSION);
    this.#messages = meter.createCounter("roster.runner.messages.received", {
      description: "Messages received.",
    });
    this.#watchEvents = meter.createCounter("roster.runner.watch.events", {
      description: "Watch events seen, by type.",
    });
    for (const type of ["join", "update", "leave"]) {
      this.#watchEvents.add(0, { type });
    }
    const gauge = (
      name: string,
      description: string,
      observe: (result: ObservableResult) => void,
    ) =>
      meter.createObservableGauge(name, { description }).addCallback(observe);
    gauge(
      "roster.runner.up",
      "Whether the backend answered the last read (1) or not (0).",
      (r) => r.observe(this.#view.health.up ? 1 : 0),
    );
    gauge(
      "roster.runner.view.state",
      "The state of the view the instances come from.",
      (r) => {
        for (const state of ["live", "stale"]) {
          r.observe(this.#view.health.view === state ? 1 : 0, { state });
        }
      },
    );
    gauge(
      "roster.runner.view.age",
      "Seconds since the instances were last read from the backend.",
      (r) => r.observe(Math.max(0, this.#view.health.ageSeconds)),
    );
    gauge(
      "roster.runner.protection",
      "Whether the eviction safety valve holds a service's expiries (1).",
      (r) => {
        for (const service of this.#view.health.protected ?? []) {
          r.observe(1, { service });
        }
      },
    );
    gauge(
      "roster.runner.instances",
      "Live instances, by service and status.",
      (r) => {
        const counts = new Map<
          string,
          { service: string; status: string; n: number }
        >();
        for (const instance of this.#view.instances) {
          const { service } = instance;
          // Held by eviction protection: expired, kept listed, not healthy.
          const status = (instance as { held?: boolean }).held
            ? "held"
            : instance.status;
          const key = `${service}\n${status}`;
          const count = counts.get(key) ?? { service, status, n: 0 };
          count.n++;
          counts.set(key, count);
        }
        for (const { service, status, n } of counts.values()) {
          r.observe(n, { service, status });
        }
      },
    );
  }

  /**
   * Follows a registry for the dashboard's detail of this process: its
   * last heartbeat latency and health check. (Counting is the registry's
   * own, into `provider`.)
   *
   * @param registry The registry to follow.
   * @returns A function that stops following.
   */
  follow(registry: Registry): () => void {
    const self = this.self = { id: registry.id } as SelfDetail;
    const offs = [
      registry.on("heartbeat", ({ latency }) => {
        self.heartbeatLatency = latency;
        recordLatency(self.latencies ??= [], Date.now(), latency);
      }),
      registry.on("health_check", (check) => this.recordCheck(check)),
    ];
    return () => offs.forEach((off) => off());
  }

  /**
   * Keeps the health check's last result, for the dashboard.
   *
   * @param check The result of one check.
   */
  recordCheck(check: HealthCheckEvents["check"]): void {
    if (!this.self) return;
    const error = check.error ?? check.warning;
    this.self.check = {
      ok: check.ok,
      ...(check.warning === undefined ? {} : { warning: true }),
      ...(error === undefined ? {} : { error }),
      ...(check.output === undefined ? {} : { output: check.output }),
      at: Date.now(),
      duration: check.duration,
    };
  }

  /** Counts one message received. */
  messageReceived(): void {
    this.#messages.add(1);
  }

  /**
   * Counts one watch event.
   *
   * @param type `join`, `update` or `leave`.
   */
  watchEvent(type: string): void {
    this.#watchEvents.add(1, { type });
  }

  /**
   * Renders every metric.
   *
   * @param instances The last known instances, healthy or not.
   * @param view Whether the backend answered, and how old the instances are.
   * @returns Prometheus text exposition.
   */
  render(
    instances: readonly Instance[],
    view: ViewHealth = { up: true, view: "live", ageSeconds: 0 },
  ): string {
    this.#view = { instances, health: view };
    return this.provider.render(EXPOSITIONS);
  }
}
