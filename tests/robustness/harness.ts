/**
 * The robustness harness, in the style of etcd's `tests/robustness` and
 * Jepsen: real processes register, lead, watch and observe while a seeded
 * random schedule breaks the backend and the processes; the harness
 * records what it did and what everyone saw, and the checker states the
 * promise as code over that history.
 *
 * @module
 */

import type { Driver } from "../../contract/driver.ts";
import { checkHistory, excerpt, type Violation } from "./checker.ts";
import type { NodeHandle, NodeReport, RobustnessEngine } from "./engine.ts";
import { FencedRegister } from "./fenced_register.ts";
import type {
  History,
  MemberReport,
  Observation,
  RunSettings,
  WatchRecord,
} from "./history.ts";
import { between, type NodeSpec, seededRandom } from "./node_program.ts";

/** How a run goes. */
export interface RunOptions {
  /** The schedule's seed: the same seed, the same schedule. */
  seed: number;
  /** How long the schedule runs, in ms, before things settle. */
  durationMs: number;
  /** How many members register at once. */
  members: number;
  settings: RunSettings;
  /** Where progress goes; nowhere when not given. */
  log?: (line: string) => void;
  /** Only these faults and process actions, by name; all when not given. */
  only?: string[];
}

/** What a run found. */
export interface RunResult {
  engine: string;
  /** What the engine cannot break, so the run did not try. */
  limits: string[];
  seed: number;
  history: History;
  violations: Violation[];
  /** How many times each fault and process action ran. */
  actions: Record<string, number>;
  /** Writes the fenced register refused: stale leaders it stopped. */
  fenced: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs one seeded schedule against an engine and checks it.
 *
 * @param engine The engine, started; the caller disposes of it.
 * @param options The seed, length and settings.
 * @returns The history, its violations and what ran.
 */
export async function runSchedule(
  engine: RobustnessEngine,
  options: RunOptions,
): Promise<RunResult> {
  const settings = { ...options.settings, ...engine.settings };
  const { seed } = options;
  const random = seededRandom(seed);
  const log = options.log ?? (() => {});
  const env = "robust";
  await using register = new FencedRegister();
  const fence = {
    url: await register.listen(),
    write: register.write.bind(register),
  };
  const history: History = {
    settings,
    facts: [],
    faults: [],
    members: [],
    writes: register.writes,
    observations: [],
    watches: [],
    endedAt: 0,
  };
  const actions: Record<string, number> = {};
  const count = (name: string) => actions[name] = (actions[name] ?? 0) + 1;
  const sink = (report: NodeReport) => {
    if (
      report.kind === "registered" || report.kind === "reregistered" ||
      report.kind === "granted"
    ) history.members.push(report as unknown as MemberReport);
    else if (report.kind === "watch") {
      history.watches.push(report as unknown as WatchRecord);
    } else if (report.kind === "observed") {
      history.observations.push(report as unknown as Observation);
    }
  };
  const spec = (name: string, role: NodeSpec["role"]): NodeSpec => ({
    name,
    role,
    env,
    service: settings.service,
    ttl: settings.ttl,
    interval: settings.interval,
    heartbeatTimeout: settings.heartbeatTimeout,
  });
  const members = new Map<string, NodeHandle>();
  const others: NodeHandle[] = [];
  let nextMember = 1;
  const startMember = async () => {
    const name = `${settings.service}-${nextMember++}`;
    history.facts.push({ t: Date.now(), node: name, kind: "started" });
    members.set(name, await engine.spawn(spec(name, "member"), sink, fence));
  };
  const startedAt = Date.now();
  await Promise.all(
    Array.from({ length: options.members }, () => startMember()),
  );
  for (
    const [name, cache] of [["watch-cached", true], ["watch", false]] as const
  ) {
    history.facts.push({ t: Date.now(), node: name, kind: "started" });
    others.push(
      await engine.spawn({ ...spec(name, "watcher"), cache }, sink, fence),
    );
  }
  history.facts.push({ t: Date.now(), node: "cold", kind: "started" });
  others.push(
    await engine.spawn({ ...spec("cold", "observer"), seed }, sink, fence),
  );
  log(
    `${engine.name}: ${options.members} members, 2 watchers and a cold observer up in ${
      Date.now() - startedAt
    } ms`,
  );

  const pick = () => {
    const names = [...members.keys()];
    return names[Math.floor(random() * names.length)]!;
  };
  const leader = () => {
    const grants = history.members.filter((m) => m.kind === "granted");
    const last = grants.at(-1)?.node;
    return last && members.has(last) ? last : undefined;
  };
  const retire = async (name: string, how: "kill" | "drain" | "stop") => {
    const handle = members.get(name)!;
    members.delete(name);
    history.facts.push({
      t: Date.now(),
      node: name,
      kind: how === "kill" ? "killed" : "stopping",
    });
    await handle[how]();
  };
  const lease = settings.ttl - settings.interval;
  const processActions: Record<string, () => Promise<void>> = {
    async "kill a member"() {
      await retire(pick(), "kill");
      await sleep(between(random, 100, 600));
      await startMember();
    },
    async "pause a member briefly"() {
      const name = pick();
      const handle = members.get(name)!;
      history.facts.push({ t: Date.now(), node: name, kind: "paused" });
      handle.pause();
      await sleep(between(random, 50, Math.max(60, lease / 2)));
      handle.resume();
      history.facts.push({ t: Date.now(), node: name, kind: "resumed" });
    },
    async "pause a member past its ttl"() {
      const name = leader() && random() < 0.5 ? leader()! : pick();
      const handle = members.get(name)!;
      history.facts.push({ t: Date.now(), node: name, kind: "paused" });
      handle.pause();
      await sleep(settings.ttl + between(random, 1_200, 2_000));
      handle.resume();
      history.facts.push({ t: Date.now(), node: name, kind: "resumed" });
    },
    async "health flap"() {
      const name = pick();
      const handle = members.get(name)!;
      for (const takesWork of [false, true]) {
        history.facts.push({
          t: Date.now(),
          node: name,
          kind: "status",
          takesWork,
        });
        handle.setStatus(takesWork ? "healthy" : "unhealthy");
        await sleep(between(random, 200, 800));
      }
    },
    async "drain a member"() {
      await retire(pick(), "drain");
      await startMember();
    },
    async "stop the leader mid-hand-over"() {
      const first = leader();
      if (!first) return;
      const grants = history.members.length;
      await retire(first, "stop");
      const deadline = Date.now() + settings.ttl + 1_000;
      while (Date.now() < deadline) {
        const next = history.members.slice(grants).find((m) =>
          m.kind === "granted" && members.has(m.node)
        );
        if (next) {
          await retire(next.node, "stop");
          break;
        }
        await sleep(10);
      }
      await Promise.all([startMember(), startMember()]);
    },
  };
  const chosen = (name: string) =>
    !options.only || options.only.some((part) => name.includes(part));
  const processNames = Object.keys(processActions).filter(chosen);
  const faults = engine.faults.filter((fault) => chosen(fault.name));
  while (Date.now() - startedAt < options.durationMs) {
    const backend = faults.length > 0 &&
      (processNames.length === 0 || random() < 0.5);
    if (backend) {
      const fault = faults[Math.floor(random() * faults.length)]!;
      count(fault.name);
      log(`+${Date.now() - startedAt} ms  ${fault.name}`);
      await fault.run(random, (from, to) =>
        history.faults.push({
          name: fault.name,
          from,
          to,
          excusesMissing: fault.excusesMissing,
          ...(fault.expiresLiving ? { expiresLiving: true } : {}),
          ...(fault.renewsLeases ? { renewsLeases: true } : {}),
        }));
    } else {
      const name = processNames[Math.floor(random() * processNames.length)]!;
      count(name);
      log(`+${Date.now() - startedAt} ms  ${name}`);
      await processActions[name]!();
    }
    await sleep(between(random, 300, 1_200));
  }

  // Let everything settle: the last expiries are due, watchers catch up.
  await sleep(2 * settings.ttl + 1_500);
  history.endedAt = Date.now();
  const admin: Driver = await engine.connect();
  try {
    history.settled = await settledState(admin, env, others);
  } finally {
    await admin.close();
  }
  for (const name of members.keys()) {
    history.facts.push({ t: Date.now(), node: name, kind: "stopping" });
  }
  await Promise.all([
    ...[...members.values()].map((handle) => handle.stop()),
    ...others.map((handle) => handle.stop()),
  ]);
  const violations = checkHistory(history);
  for (const violation of violations.slice(0, 5)) {
    log(`VIOLATION ${violation.rule}: ${violation.message} (seed ${seed})`);
    for (const line of excerpt(history, violation)) log(`    ${line}`);
  }
  return {
    engine: engine.name,
    limits: engine.limits,
    seed,
    history,
    violations,
    actions,
    fenced: register.writes.filter((w) => !w.accepted).length,
  };
}

/**
 * Each watcher's state against a cold read, retried for a few seconds so
 * a change in flight does not count as a difference.
 */
async function settledState(
  admin: Driver,
  env: string,
  nodes: NodeHandle[],
): Promise<History["settled"]> {
  const watchers = nodes.filter((n) => n.spec.role === "watcher");
  let result: NonNullable<History["settled"]> = { watchers: {}, truth: [] };
  for (let attempt = 0; attempt < 20; attempt++) {
    const truth = (await admin.list({ env }).catch(() => []))
      .map((i) => `${i.id}:${i.seq}:${i.status}`).sort();
    const states: Record<string, string[]> = {};
    for (const watcher of watchers) {
      states[watcher.spec.name] = await watcher.state();
    }
    result = { watchers: states, truth };
    if (Object.values(states).every((s) => s.join() === truth.join())) break;
    await sleep(250);
  }
  return result;
}
