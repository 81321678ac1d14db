/**
 * An OpenTelemetry meter provider that keeps what its instruments record
 * and renders it in Prometheus's text format: the runner's one metric
 * pipeline. The library's registries record into it (`meterProvider`), so
 * `GET /metrics` shows the same instruments an OTel exporter would, and it
 * forwards every measurement to the provider installed before it (Deno's
 * `OTEL_DENO=true`, or an SDK), so neither loses anything.
 *
 * @module
 */

import type {
  Attributes,
  BatchObservableCallback,
  Counter,
  Gauge,
  Histogram,
  Meter,
  MeterProvider,
  MetricOptions,
  Observable,
  ObservableCallback,
  ObservableResult,
  UpDownCounter,
} from "@opentelemetry/api";

type Kind = "counter" | "gauge" | "histogram";

interface Series {
  attributes: Attributes;
  value: number;
  /** Histograms: per-bucket counts (not cumulative), then sum and count. */
  buckets?: number[];
  sum?: number;
  count?: number;
}

interface InstrumentState {
  kind: Kind;
  description: string;
  buckets: readonly number[];
  series: Map<string, Series>;
  callbacks: ObservableCallback[];
  /** Observed values replace, recorded ones accumulate. */
  observed: boolean;
}

/** How one instrument shows on `/metrics`. */
export interface Exposition {
  /** Its Prometheus name, such as `roster_heartbeats_total`. */
  name: string;
  /** Which attributes become labels, and under what name; others are summed away. */
  labels?: Readonly<Record<string, string>>;
  /** Left off `/metrics`. */
  hidden?: boolean;
}

const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** Keeps and renders what roster's instruments record. */
export class PrometheusMeterProvider implements MeterProvider {
  readonly #instruments = new Map<string, InstrumentState>();
  readonly #forward: MeterProvider | undefined;

  /**
   * Creates a provider.
   *
   * @param forward A provider to pass every measurement on to as well.
   */
  constructor(forward?: MeterProvider) {
    this.#forward = forward;
  }

  /**
   * A meter; all meters of this provider share one store.
   *
   * @param name The instrumentation scope.
   * @param version Its version.
   * @returns The meter.
   */
  getMeter(name: string, version?: string): Meter {
    const forward = this.#forward?.getMeter(name, version);
    const state = (instrument: string, kind: Kind, options?: MetricOptions) =>
      this.#state(instrument, kind, options);
    const recorder =
      (s: InstrumentState, sum: boolean) =>
      (value: number, attributes: Attributes = {}) =>
        record(s, value, attributes, sum);
    const observable = (
      name: string,
      kind: Kind,
      options: MetricOptions | undefined,
      made: Observable | undefined,
    ): Observable => {
      const s = state(name, kind, options);
      s.observed = true;
      return {
        addCallback(callback) {
          s.callbacks.push(callback);
          made?.addCallback(callback);
        },
        removeCallback(callback) {
          s.callbacks = s.callbacks.filter((c) => c !== callback);
          made?.removeCallback(callback);
        },
      };
    };
    return {
      createCounter(name, options): Counter {
        const add = recorder(state(name, "counter", options), true);
        const other = forward?.createCounter(name, options);
        return { add: (v, a) => (add(v, a), other?.add(v, a)) };
      },
      createUpDownCounter(name, options): UpDownCounter {
        const add = recorder(state(name, "gauge", options), true);
        const other = forward?.createUpDownCounter(name, options);
        return { add: (v, a) => (add(v, a), other?.add(v, a)) };
      },
      createGauge(name, options): Gauge {
        const set = recorder(state(name, "gauge", options), false);
        const other = forward?.createGauge(name, options);
        return { record: (v, a) => (set(v, a), other?.record(v, a)) };
      },
      createHistogram(name, options): Histogram {
        const s = state(name, "histogram", options);
        const other = forward?.createHistogram(name, options);
        return {
          record: (v, a = {}) => (observe(s, v, a), other?.record(v, a)),
        };
      },
      createObservableGauge: (name, options) =>
        observable(
          name,
          "gauge",
          options,
          forward?.createObservableGauge(name, options),
        ),
      createObservableCounter: (name, options) =>
        observable(
          name,
          "counter",
          options,
          forward?.createObservableCounter(name, options),
        ),
      createObservableUpDownCounter: (name, options) =>
        observable(
          name,
          "gauge",
          options,
          forward?.createObservableUpDownCounter(name, options),
        ),
      addBatchObservableCallback(
        _callback: BatchObservableCallback,
        _observables: Observable[],
      ) {
        // roster's instruments use no batch callbacks.
      },
      removeBatchObservableCallback() {},
    };
  }

  #state(
    name: string,
    kind: Kind,
    options: MetricOptions | undefined,
  ): InstrumentState {
    let state = this.#instruments.get(name);
    if (!state) {
      state = {
        kind,
        description: options?.description ?? name,
        buckets: options?.advice?.explicitBucketBoundaries ?? DEFAULT_BUCKETS,
        series: new Map(),
        callbacks: [],
        observed: false,
      };
      this.#instruments.set(name, state);
    }
    return state;
  }

  /**
   * Renders every instrument: those named in `expositions` as they say,
   * any other under its own name with its attributes as labels.
   *
   * @param expositions How named instruments show.
   * @returns Prometheus text exposition (format 0.0.4).
   */
  render(expositions: Readonly<Record<string, Exposition>> = {}): string {
    const lines: string[] = [];
    for (const [instrument, state] of this.#instruments) {
      const shown = expositions[instrument];
      if (shown?.hidden) continue;
      if (state.observed) collect(state);
      const name = shown?.name ?? prometheusName(instrument, state.kind);
      let all = summed(state, shown?.labels);
      // A series without labels is there from the start, at zero.
      if (
        all.length === 0 && shown?.labels && !Object.keys(shown.labels).length
      ) {
        all = [zero(state)];
      }
      if (all.length === 0 && !state.observed) continue;
      lines.push(
        `# HELP ${name} ${state.description}`,
        `# TYPE ${name} ${state.kind}`,
      );
      for (const series of all) lines.push(...seriesLines(name, state, series));
    }
    return lines.join("\n") + "\n";
  }
}

function zero(state: InstrumentState): Series {
  return state.kind === "histogram"
    ? {
      attributes: {},
      value: 0,
      buckets: new Array(state.buckets.length).fill(0),
      sum: 0,
      count: 0,
    }
    : { attributes: {}, value: 0 };
}

/** Keys of attribute sets already seen: a registry passes the same object each beat. */
const keys = new WeakMap<Attributes, string>();

function key(attributes: Attributes): string {
  let known = keys.get(attributes);
  if (known === undefined) {
    known = JSON.stringify(Object.entries(attributes).sort());
    keys.set(attributes, known);
  }
  return known;
}

function record(
  state: InstrumentState,
  value: number,
  attributes: Attributes,
  sum: boolean,
): void {
  const k = key(attributes);
  const series = state.series.get(k);
  if (series) series.value = sum ? series.value + value : value;
  else state.series.set(k, { attributes, value });
}

function observe(
  state: InstrumentState,
  value: number,
  attributes: Attributes,
): void {
  const k = key(attributes);
  let series = state.series.get(k);
  if (!series) {
    series = {
      attributes,
      value: 0,
      buckets: new Array(state.buckets.length).fill(0),
      sum: 0,
      count: 0,
    };
    state.series.set(k, series);
  }
  const index = state.buckets.findIndex((bound) => value <= bound);
  if (index >= 0) series.buckets![index]!++;
  series.sum! += value;
  series.count!++;
}

/**
 * Runs an observable's callbacks: what they observe now is its value. A
 * callback that answers later (a promise) counts from the next render.
 */
function collect(state: InstrumentState): void {
  state.series.clear();
  const result: ObservableResult = {
    observe: (value, attributes = {}) =>
      record(state, value, attributes, false),
  };
  for (const callback of state.callbacks) void callback(result);
}

/** The series with only the labels shown, summed over the rest. */
function summed(
  state: InstrumentState,
  labels: Readonly<Record<string, string>> | undefined,
): Series[] {
  const merged = new Map<string, Series>();
  for (const series of state.series.values()) {
    const attributes: Attributes = {};
    for (const [attribute, value] of Object.entries(series.attributes)) {
      const label = labels ? labels[attribute] : labelName(attribute);
      if (label !== undefined && value !== undefined) {
        attributes[label] = value;
      }
    }
    const k = key(attributes);
    const into = merged.get(k);
    if (!into) {
      merged.set(k, {
        ...series,
        attributes,
        buckets: series.buckets?.slice(),
      });
      continue;
    }
    into.value += series.value;
    if (into.buckets && series.buckets) {
      into.buckets = into.buckets.map((n, i) => n + series.buckets![i]!);
      into.sum! += series.sum!;
      into.count! += series.count!;
    }
  }
  return [...merged.values()].sort((a, b) =>
    key(a.attributes) < key(b.attributes) ? -1 : 1
  );
}

function seriesLines(
  name: string,
  state: InstrumentState,
  series: Series,
): string[] {
  const labels = Object.entries(series.attributes).map(([k, v]) =>
    `${k}="${escapeLabel(String(v))}"`
  );
  const braces = (extra: string[] = []) => {
    const all = [...labels, ...extra];
    return all.length ? `{${all.join(",")}}` : "";
  };
  if (state.kind !== "histogram") {
    return [`${name}${braces()} ${series.value}`];
  }
  let cumulative = 0;
  return [
    ...state.buckets.map((bound, i) => {
      cumulative += series.buckets![i]!;
      return `${name}_bucket${braces([`le="${bound}"`])} ${cumulative}`;
    }),
    `${name}_bucket${braces(['le="+Inf"'])} ${series.count}`,
    `${name}_sum${braces()} ${series.sum}`,
    `${name}_count${braces()} ${series.count}`,
  ];
}

/** OTel's name as Prometheus writes it: `roster.heartbeats` → `roster_heartbeats_total`. */
function prometheusName(instrument: string, kind: Kind): string {
  const name = instrument.replace(/[^a-zA-Z0-9_:]/g, "_");
  return kind === "counter" ? `${name}_total` : name;
}

function labelName(attribute: string): string {
  return attribute.replace(/[^a-zA-Z0-9_]/g, "_");
}

function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll(
    "\n",
    "\\n",
  );
}
