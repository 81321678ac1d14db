/**
 * Telemetry for library users: with Deno's OpenTelemetry on and no code of
 * their own, an app exports roster's metrics and spans, and the runner's
 * log lines keep their severity.
 */

import assert from "node:assert/strict";
import { eventually } from "./discovery/_discovery_suite.ts";
import { spawnRunner, writeConfig } from "./_runner_process.ts";

interface Received {
  metrics: Set<string>;
  spans: Set<string>;
  logs: { body: string; severity: string }[];
  metricAttributes: Map<string, unknown[]>;
}

/** A loopback OTLP/HTTP JSON receiver. */
function receiver() {
  const received: Received = {
    metrics: new Set(),
    spans: new Set(),
    logs: [],
    metricAttributes: new Map(),
  };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const path = new URL(request.url).pathname;
      const body = await request.json();
      const walk = (
        node: unknown,
        visit: (o: Record<string, unknown>) => void,
      ) => {
        if (Array.isArray(node)) node.forEach((n) => walk(n, visit));
        else if (node && typeof node === "object") {
          visit(node as Record<string, unknown>);
          Object.values(node).forEach((n) => walk(n, visit));
        }
      };
      walk(body, (o) => {
        if (
          path === "/v1/metrics" && typeof o.name === "string" &&
          ("sum" in o || "histogram" in o || "gauge" in o)
        ) {
          received.metrics.add(o.name);
          const points = (o.sum ?? o.histogram) as {
            dataPoints?: { attributes?: unknown[] }[];
          } | undefined;
          for (const point of points?.dataPoints ?? []) {
            received.metricAttributes.set(o.name, point.attributes ?? []);
          }
        }
        if (
          path === "/v1/traces" && typeof o.name === "string" && "spanId" in o
        ) {
          received.spans.add(o.name);
        }
        if (path === "/v1/logs" && "severityNumber" in o && o.body) {
          const value = (o.body as { stringValue?: string }).stringValue ?? "";
          received.logs.push({
            body: value,
            severity: String(o.severityText ?? o.severityNumber),
          });
        }
      });
      return Response.json({});
    },
  );
  return { server, received, endpoint: `http://127.0.0.1:${server.addr.port}` };
}

function otelEnv(endpoint: string): Record<string, string> {
  return {
    OTEL_DENO: "true",
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_METRIC_EXPORT_INTERVAL: "200",
    OTEL_SERVICE_NAME: "roster-test",
  };
}

Deno.test("with OTEL_DENO=true a library user's app exports roster's metrics and spans, with no code", async () => {
  const { server, received, endpoint } = receiver();
  try {
    const app = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("./fixtures/otel_app.ts", import.meta.url).pathname,
      ],
      env: otelEnv(endpoint),
      stdout: "piped",
      stderr: "piped",
    });
    const { code, stderr } = await app.output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    await eventually(
      "metrics and spans",
      () =>
        [
          "roster.heartbeats",
          "roster.heartbeat.duration",
          "roster.leader.changes",
        ]
          .every((name) => received.metrics.has(name)) &&
        ["roster.register", "roster.heartbeat", "roster.deregister"]
          .every((name) => received.spans.has(name)),
    );
    assert.deepEqual(
      received.metricAttributes.get("roster.heartbeats")?.map((a) =>
        (a as { key: string }).key
      ).sort(),
      ["roster.driver", "roster.env", "roster.service"],
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("under OTEL_DENO=true the runner's INFO lines reach OpenTelemetry as INFO, not ERROR", async () => {
  const { server, received, endpoint } = receiver();
  try {
    const file = await writeConfig(`[cluster]
service = "api"
heartbeat_interval = "100ms"
ttl = "1s"
`);
    await using runner = spawnRunner(["--config", file], otelEnv(endpoint));
    await runner.waitForLine(/^roster: registered/);
    await eventually(
      "the registered line",
      () =>
        received.logs.find((l) =>
          /^Registered /.test(l.body) || / Registered /.test(l.body)
        ),
    );
    runner.child.kill("SIGTERM");
    await runner.waitForLine(/^roster: stopped/);
    // Deno 2.4+ can hang at exit while it flushes OTEL_DENO's telemetry
    // (denoland/deno#33157): roster has deregistered and said so by then.
    // The exit code is checked when the process does exit.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exited = await Promise.race([
      runner.status,
      new Promise<undefined>((done) =>
        timer = setTimeout(() => done(undefined), 5_000)
      ),
    ]);
    clearTimeout(timer);
    if (exited) assert.equal(exited.code, 0);
    else runner.child.kill("SIGKILL");
    const registered = received.logs.find((l) => /Registered /.test(l.body));
    assert.equal(registered?.severity, "INFO", JSON.stringify(received.logs));
    assert.ok(
      !received.logs.some((l) =>
        /Registered /.test(l.body) && l.severity === "ERROR"
      ),
    );
  } finally {
    await server.shutdown();
  }
});
