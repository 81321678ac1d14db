/**
 * What one process of a robustness run does, whatever the engine: a
 * member registers and stands by to lead, and while it leads writes its
 * term to the fenced register behind `valid()`; a watcher follows every
 * change (with or without `cache: true`); the cold observer asks `list`,
 * `waitFor`, `quorum` and `leader` at random moments, each time through a
 * driver and registry made just for that question. Each reports what it
 * did and saw as plain objects, stamped with `Date.now()`.
 *
 * @module
 */

import { Registry } from "../../mod.ts";
import type { Driver } from "../../contract/driver.ts";
import type { HealthStatus } from "../../instance.ts";

/** Which process, and its settings. */
export interface NodeSpec {
  name: string;
  role: "member" | "watcher" | "observer";
  env: string;
  service: string;
  ttl: number;
  interval: number;
  heartbeatTimeout: number;
  /** A watcher's registry option. */
  cache?: boolean;
  /** The observer's random schedule. */
  seed?: number;
}

/** A fenced write, as the member makes it. */
export interface FenceRequest {
  node: string;
  term: number;
  checkedFrom: number;
  checkedTo: number;
}

/** How a node talks to the harness. */
export interface NodeIo {
  /** One report (a JSON line, for a process of its own). */
  report(line: Record<string, unknown>): void;
  /** Writes to the fenced register. */
  fence(write: FenceRequest): Promise<void>;
  /** A driver made afresh (the cold observer's); closed by the node. */
  connect(): Promise<Driver>;
}

/** What the harness may ask of a running node. */
export interface NodeControl {
  /** Sets a member's status by hand, as a health check would. */
  setStatus(status: HealthStatus): void;
  /** Drains a member (then it deregisters), or stops any node. */
  drain(): Promise<void>;
  stop(): Promise<void>;
  /** A watcher's replayed state: `id:seq:status`, sorted. */
  state(): string[];
}

/** A whole number from `min` to `max`, drawn from `random`. */
export function between(
  random: () => number,
  min: number,
  max: number,
): number {
  return Math.round(min + random() * (max - min));
}

/** A small seeded generator (mulberry32), so a run can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

/** A driver that reports every campaign the backend grants, with its timing. */
function reportingGrants(driver: Driver, node: string, io: NodeIo): Driver {
  return new Proxy(driver, {
    get(target, property) {
      if (property === "campaign") {
        return async (registration: Parameters<Driver["campaign"]>[0]) => {
          const sentAt = Date.now();
          const term = await target.campaign(registration);
          if (term !== undefined) {
            io.report({ t: Date.now(), node, kind: "granted", term, sentAt });
          }
          return term;
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/**
 * Starts a node.
 *
 * @param spec Which node.
 * @param driver Its driver (a member's and a watcher's, kept for its life).
 * @param io How it reports.
 * @returns How to control it.
 */
export async function startNode(
  spec: NodeSpec,
  driver: Driver,
  io: NodeIo,
): Promise<NodeControl> {
  if (spec.role === "member") return await startMember(spec, driver, io);
  if (spec.role === "watcher") return startWatcher(spec, driver, io);
  return startObserver(spec, io);
}

async function startMember(
  spec: NodeSpec,
  driver: Driver,
  io: NodeIo,
): Promise<NodeControl> {
  const node = spec.name;
  const registry = new Registry({
    driver: reportingGrants(driver, node, io),
    service: spec.service,
    env: spec.env,
    id: node,
    heartbeatInterval: spec.interval,
    ttl: spec.ttl,
    heartbeatTimeout: spec.heartbeatTimeout,
    protection: false,
  });
  registry.on("reregistered", ({ instance }) =>
    io.report({
      t: Date.now(),
      node,
      kind: "reregistered",
      seq: instance.seq,
    }));
  const instance = await registry.start();
  io.report({ t: Date.now(), node, kind: "registered", seq: instance.seq });
  const stopped = new AbortController();
  const leading = (async () => {
    while (!stopped.signal.aborted) {
      let leadership;
      try {
        leadership = await registry.standby({ signal: stopped.signal });
      } catch {
        return;
      }
      while (!stopped.signal.aborted) {
        const checkedFrom = Date.now();
        const valid = leadership.valid();
        const checkedTo = Date.now();
        if (!valid) break;
        await io.fence({ node, term: leadership.term, checkedFrom, checkedTo })
          .catch(() => {});
        await delay(20, stopped.signal);
      }
      await leadership.release();
    }
  })();
  const end = async (how: () => Promise<void>) => {
    stopped.abort();
    await how();
    await leading;
  };
  return {
    setStatus: (status) => registry.setStatus(status),
    drain: () => end(() => registry.drain({ linger: 0 })),
    stop: () => end(() => registry.stop()),
    state: () => [],
  };
}

function startWatcher(
  spec: NodeSpec,
  driver: Driver,
  io: NodeIo,
): NodeControl {
  const node = spec.name;
  const registry = new Registry({
    driver,
    env: spec.env,
    cache: spec.cache ?? false,
    protection: false,
  });
  const known = new Map<string, { seq: number; status: string }>();
  const stopped = new AbortController();
  // The watcher's own state, as an observation of that moment.
  const reportView = (t: number) =>
    io.report({
      t,
      node,
      kind: "observed",
      op: "view",
      sentAt: t,
      ok: true,
      seen: [...known].map(([id, { seq }]) => ({ id, seq })),
      complete: false,
      fromView: true,
    });
  const watching = (async () => {
    try {
      for await (
        const event of registry.watch(undefined, {
          current: true,
          signal: stopped.signal,
        })
      ) {
        const { id, seq, status } = event.instance;
        const t = Date.now();
        if (event.type === "leave") known.delete(id);
        else known.set(id, { seq, status });
        io.report({
          t,
          node,
          kind: "watch",
          type: event.type,
          reason: event.reason,
          id,
          seq,
          status,
        });
        reportView(t);
      }
    } catch {
      // A stop ends the watch.
    }
  })();
  const asking = (async () => {
    while (!stopped.signal.aborted) {
      await delay(150, stopped.signal);
      if (stopped.signal.aborted) break;
      reportView(Date.now());
      const sentAt = Date.now();
      try {
        const listed = await registry.instances(spec.service);
        io.report({
          t: Date.now(),
          node,
          kind: "observed",
          op: spec.cache ? "cached-list" : "list",
          sentAt,
          ok: true,
          seen: listed.map((i) => ({ id: i.id, seq: i.seq })),
          complete: true,
          fromView: spec.cache ?? false,
        });
      } catch {
        io.report({
          t: Date.now(),
          node,
          kind: "observed",
          op: "list",
          sentAt,
          ok: false,
          seen: [],
          complete: true,
          fromView: false,
        });
      }
    }
  })();
  const stop = async () => {
    stopped.abort();
    await Promise.all([watching, asking]);
    await registry.stop();
  };
  return {
    setStatus: () => {},
    drain: stop,
    stop,
    state: () =>
      [...known].map(([id, { seq, status }]) => `${id}:${seq}:${status}`)
        .sort(),
  };
}

const COLD_OPS = ["list", "list", "waitFor", "quorum", "leader"] as const;

function startObserver(spec: NodeSpec, io: NodeIo): NodeControl {
  const node = spec.name;
  const random = seededRandom(spec.seed ?? 1);
  const stopped = new AbortController();
  const asking = (async () => {
    while (!stopped.signal.aborted) {
      await delay(150 + random() * 450, stopped.signal);
      if (stopped.signal.aborted) break;
      const op = COLD_OPS[Math.floor(random() * COLD_OPS.length)]!;
      const sentAt = Date.now();
      let seen: { id: string; seq: number }[] = [];
      let ok = true;
      let driver: Driver | undefined;
      let registry: Registry | undefined;
      try {
        driver = await io.connect();
        registry = new Registry({ driver, env: spec.env, protection: false });
        if (op === "list") {
          seen = (await registry.instances(spec.service)).map((i) => ({
            id: i.id,
            seq: i.seq,
          }));
        } else if (op === "waitFor") {
          seen = (await registry.waitFor(spec.service, {
            min: 1,
            timeout: spec.ttl,
          })).map((i) => ({ id: i.id, seq: i.seq }));
        } else if (op === "quorum") {
          await registry.quorum(spec.service, 3);
        } else {
          const leader = await registry.leader(spec.service);
          seen = leader ? [{ id: leader.id, seq: leader.seq }] : [];
        }
      } catch {
        ok = false;
      } finally {
        await registry?.stop().catch(() => {});
        await driver?.close().catch(() => {});
      }
      io.report({
        t: Date.now(),
        node,
        kind: "observed",
        op,
        sentAt,
        ok,
        seen,
        complete: op === "list",
        fromView: false,
      });
    }
  })();
  const stop = async () => {
    stopped.abort();
    await asking;
  };
  return { setStatus: () => {}, drain: stop, stop, state: () => [] };
}
