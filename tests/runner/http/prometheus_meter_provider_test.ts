import assert from "node:assert/strict";
import type { MeterProvider } from "@opentelemetry/api";
import { PrometheusMeterProvider } from "../../../runner/http/prometheus_meter_provider.ts";

Deno.test("what instruments record renders as Prometheus text, named and labelled as the exposition says", () => {
  const provider = new PrometheusMeterProvider();
  const meter = provider.getMeter("roster", "1");
  const beats = meter.createCounter("roster.heartbeats", {
    description: "Beats.",
  });
  beats.add(2, { "roster.env": "a", "roster.service": "api" });
  beats.add(3, { "roster.env": "b", "roster.service": "api" });
  const latency = meter.createHistogram("roster.heartbeat.duration", {
    description: "Round trips.",
    advice: { explicitBucketBoundaries: [0.01, 0.1] },
  });
  latency.record(0.005);
  latency.record(0.05);
  latency.record(5);
  const views = meter.createUpDownCounter("roster.views");
  views.add(1, { state: "live" });
  views.add(-1, { state: "live" });
  let live = 7;
  meter.createObservableGauge("roster.live", { description: "Live." })
    .addCallback((result) => result.observe(live, { "roster.service": "api" }));
  const text = provider.render({
    "roster.heartbeats": { name: "roster_heartbeats_total", labels: {} },
    "roster.heartbeat.duration": { name: "latency_seconds", labels: {} },
    "roster.views": { name: "views", hidden: true },
  });
  // Attributes left out of the labels are summed away.
  assert.match(text, /^# TYPE roster_heartbeats_total counter$/m);
  assert.match(text, /^roster_heartbeats_total 5$/m);
  assert.match(text, /^latency_seconds_bucket\{le="0.01"\} 1$/m);
  assert.match(text, /^latency_seconds_bucket\{le="0.1"\} 2$/m);
  assert.match(text, /^latency_seconds_bucket\{le="\+Inf"\} 3$/m);
  assert.match(text, /^latency_seconds_count 3$/m);
  assert.doesNotMatch(text, /views/);
  // An instrument the exposition does not name keeps its attributes.
  assert.match(text, /^roster_live\{roster_service="api"\} 7$/m);
  live = 8;
  assert.match(provider.render(), /^roster_live\{roster_service="api"\} 8$/m);
});

Deno.test("a label-less series shows at zero before anything is recorded, and labelled ones only once recorded", () => {
  const provider = new PrometheusMeterProvider();
  const meter = provider.getMeter("roster");
  meter.createCounter("roster.failures");
  meter.createCounter("roster.changes");
  const text = provider.render({
    "roster.failures": { name: "failures_total", labels: {} },
    "roster.changes": { name: "changes_total", labels: { change: "change" } },
  });
  assert.match(text, /^failures_total 0$/m);
  assert.doesNotMatch(text, /changes_total/);
});

Deno.test("every measurement also reaches the provider installed before", () => {
  const seen: string[] = [];
  const earlier: MeterProvider = {
    getMeter: (scope) => ({
      createCounter: (name) => ({
        add: (value) => seen.push(`${scope} ${name} +${value}`),
      }),
      createUpDownCounter: (name) => ({
        add: (value) => seen.push(`${scope} ${name} ${value}`),
      }),
      createGauge: (name) => ({
        record: (value) => seen.push(`${scope} ${name} =${value}`),
      }),
      createHistogram: (name) => ({
        record: (value) => seen.push(`${scope} ${name} ~${value}`),
      }),
      createObservableGauge: () => ({
        addCallback: () => seen.push("callback"),
        removeCallback: () => {},
      }),
      createObservableCounter: () => ({
        addCallback: () => {},
        removeCallback: () => {},
      }),
      createObservableUpDownCounter: () => ({
        addCallback: () => {},
        removeCallback: () => {},
      }),
      addBatchObservableCallback: () => {},
      removeBatchObservableCallback: () => {},
    }),
  };
  const provider = new PrometheusMeterProvider(earlier);
  const meter = provider.getMeter("roster");
  meter.createCounter("a").add(1);
  meter.createHistogram("b").record(0.5);
  meter.createObservableGauge("c").addCallback(() => {});
  assert.deepEqual(seen, ["roster a +1", "roster b ~0.5", "callback"]);
  assert.match(provider.render(), /^a_total 1$/m);
});
