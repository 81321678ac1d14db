/**
 * The runner's metrics in the Prometheus text format.
 *
 * @module
 */

import type { HealthCheckEvents, Instance, Registry } from "../../mod.ts";
import { HEARTBEAT_SECONDS_BUCKETS } from "../../_telemetry.ts";
import type { SelfDetail } from "./status_view.ts";

const BUCKETS = HEARTBEAT_SECONDS_BUCKETS;

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

/** Counters fed by a registry's events, rendered for `GET /metrics`. */
export class RunnerMetrics {
  /** Whether a status server exposes these, so they are worth collecting. */
  served = false;
  heartbeats = 0;
  heartbeatFailures = 0;
  reregistrations = 0;
  watchEvents = new Map<string, number>();
  messagesReceived = 0;
  /** This process's own instance, as the dashboard details it. */
  self: SelfDetail | undefined;
  readonly #latency = new Array<number>(BUCKETS.length).fill(0);
  #latencyCount = 0;
  #latencySum = 0;

  /**
   * Counts what a registry reports.
   *
   * @param registry The registry to follow.
   * @returns A function that stops counting.
   */
  follow(registry: Registry): () => void {
    const self = this.self = { id: registry.id } as SelfDetail;
    const offs = [
      registry.on("heartbeat", ({ latency }) => {
        this.heartbeats++;
        self.heartbeatLatency = latency;
        this.#observe(latency / 1000);
      }),
      registry.on("health_check", (check) => this.recordCheck(check)),
      registry.on("heartbeat_failed", () => this.heartbeatFailures++),
      registry.on("reregistered", () => this.reregistrations++),
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

  /**
   * Counts one watch event.
   *
   * @param type `join`, `update` or `leave`.
   */
  watchEvent(type: string): void {
    this.watchEvents.set(type, (this.watchEvents.get(type) ?? 0) + 1);
  }

  #observe(seconds: number): void {
    this.#latencyCount++;
    this.#latencySum += seconds;
    for (const [i, bound] of BUCKETS.entries()) {
      if (seconds <= bound) this.#latency[i]!++;
    }
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
    const lines: string[] = [
      "# HELP roster_up Whether the backend answered the last read (1) or not (0).",
      "# TYPE roster_up gauge",
      `roster_up ${view.up ? 1 : 0}`,
      "# HELP roster_view_state The state of the view the instances come from.",
      "# TYPE roster_view_state gauge",
      `roster_view_state{state="live"} ${view.view === "live" ? 1 : 0}`,
      `roster_view_state{state="stale"} ${view.view === "stale" ? 1 : 0}`,
      "# HELP roster_view_age_seconds Seconds since the instances were last read from the backend.",
      "# TYPE roster_view_age_seconds gauge",
      `roster_view_age_seconds ${Math.max(0, view.ageSeconds)}`,
      "# HELP roster_protection Whether the eviction safety valve holds a service's expiries (1).",
      "# TYPE roster_protection gauge",
      ...(view.protected ?? []).map((service) =>
        `roster_protection{service="${escape(service)}"} 1`
      ),
    ];
    const counter = (name: string, help: string, value: number) =>
      lines.push(
        `# HELP ${name} ${help}`,
        `# TYPE ${name} counter`,
        `${name} ${value}`,
      );
    counter(
      "roster_heartbeats_total",
      "Heartbeats the backend accepted.",
      this.heartbeats,
    );
    counter(
      "roster_heartbeat_failures_total",
      "Heartbeats that failed.",
      this.heartbeatFailures,
    );
    counter(
      "roster_reregistrations_total",
      "Times the backend had lost this registration and it was created again.",
      this.reregistrations,
    );
    counter(
      "roster_messages_received_total",
      "Messages received.",
      this.messagesReceived,
    );
    lines.push(
      "# HELP roster_heartbeat_latency_seconds Heartbeat round trip.",
      "# TYPE roster_heartbeat_latency_seconds histogram",
    );
    for (const [i, bound] of BUCKETS.entries()) {
      lines.push(
        `roster_heartbeat_latency_seconds_bucket{le="${bound}"} ${
          this.#latency[i]
        }`,
      );
    }
    lines.push(
      `roster_heartbeat_latency_seconds_bucket{le="+Inf"} ${this.#latencyCount}`,
      `roster_heartbeat_latency_seconds_sum ${this.#latencySum}`,
      `roster_heartbeat_latency_seconds_count ${this.#latencyCount}`,
      "# HELP roster_watch_events_total Watch events seen, by type.",
      "# TYPE roster_watch_events_total counter",
    );
    for (const type of ["join", "update", "leave"]) {
      lines.push(
        `roster_watch_events_total{type="${type}"} ${
          this.watchEvents.get(type) ?? 0
        }`,
      );
    }
    lines.push(
      "# HELP roster_instances Live instances, by service and status.",
      "# TYPE roster_instances gauge",
    );
    const counts = new Map<string, number>();
    for (const instance of instances) {
      const key = `service="${
        escape(instance.service)
      }",status="${instance.status}"`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    for (const [labels, count] of [...counts].sort()) {
      lines.push(`roster_instances{${labels}} ${count}`);
    }
    return lines.join("\n") + "\n";
  }
}

function escape(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll(
    "\n",
    "\\n",
  );
}
