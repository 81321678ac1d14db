/**
 * The promise as code: given what a run recorded, list every way it was
 * broken. Each rule allows exactly the slack that the ttl, the heartbeat
 * interval and the faults the harness caused allow, no more.
 *
 * - **Never list the dead.** No successful observation shows an instance
 *   whose process had been killed, stopped or paused for longer than
 *   ttl + 1 s, nor a seq its process had replaced that long ago; where the
 *   driver declares the backend renews leases as it comes back from a
 *   fault (`FaultWindow.renewsLeases`), one whose lease ran when the fault
 *   began may be shown until ttl + 2 s after the fault ended (etcd adds
 *   its election timeout, 1 s, to the ttl). A watcher's
 *   view may keep an instance whose expiry fell inside a backend fault
 *   until one ttl + 1 s after the fault ended: during a fault nobody can
 *   tell a crash from the fault. One that lapsed just before a fault (its
 *   leave not yet recorded, within the 1 s) it may keep until 1 s after
 *   the fault ended, not a ttl: the lapse came before the fault.
 * - **Never evict the living.** A process that runs is never reported
 *   `leave`, and keeps its seq, unless it was itself paused past its lease,
 *   or a fault its driver declares it expires the living through
 *   (`FaultWindow.expiresLiving`) explains the leave and the same watcher
 *   sees it join again, under the same seq, within one interval (plus a
 *   heartbeat timeout and a second) of the fault's end.
 *   A complete listing (`list`) shows every running member that takes work,
 *   except within one interval (plus a heartbeat timeout) of the end of a
 *   fault that excuses it; a fault that does not (a write pause) must leave
 *   listings complete or failing.
 * - **Watches.** Once things settle, each watcher's replayed state equals
 *   a cold read of the backend.
 * - **Election.** A grant answered before another was asked has the lower
 *   term; no two processes' `valid()` windows overlap; the fenced register
 *   never accepts a lower term after a higher one; a leader that dies is
 *   followed by another within ttl + 1 s while an eligible member lives
 *   and no fault is under way.
 *
 * @module
 */

import type {
  FaultWindow,
  History,
  MemberReport,
  Observation,
  ProcessFact,
} from "./history.ts";

/** One broken promise. */
export interface Violation {
  /** Which rule: `dead-listed`, `false-leave`, `new-seq`, `missing`, `watch`, `term`, `overlap`, `fence`, `no-leader`. */
  rule: string;
  /** What happened, with the values. */
  message: string;
  /** When, for the excerpt. */
  at: number;
  /** The processes involved. */
  nodes: string[];
}

/** How long past its death an instance may still be shown, beyond the ttl. */
const SHOWN_SLACK_MS = 1_000;
/** What a backend that renews leases as it comes back adds to a ttl (etcd: its election timeout). */
const RENEWAL_EXTRA_MS = 1_000;
/** A pause this much shorter than the lease still lets the lease run. */
const PAUSE_SLACK_MS = 50;

interface Timeline {
  started: number;
  /** Killed, or asked to stop: from here it may leave. */
  gone?: number;
  pauses: { from: number; to: number }[];
  statuses: { t: number; takesWork: boolean }[];
  /** Registrations: seq and when each was reported. */
  seqs: { t: number; seq: number }[];
}

function timelines(history: History): Map<string, Timeline> {
  const lines = new Map<string, Timeline>();
  const of = (node: string) => {
    let line = lines.get(node);
    if (!line) {
      line = { started: Infinity, pauses: [], statuses: [], seqs: [] };
      lines.set(node, line);
    }
    return line;
  };
  const facts = [...history.facts].sort((a, b) => a.t - b.t);
  for (const fact of facts) applyFact(of(fact.node), fact, history.endedAt);
  for (const report of history.members) {
    if (report.kind !== "granted") {
      of(report.node).seqs.push({ t: report.t, seq: report.seq });
    }
  }
  for (const line of lines.values()) line.seqs.sort((a, b) => a.t - b.t);
  return lines;
}

function applyFact(line: Timeline, fact: ProcessFact, endedAt: number): void {
  switch (fact.kind) {
    case "started":
      line.started = Math.min(line.started, fact.t);
      break;
    case "paused":
      line.pauses.push({ from: fact.t, to: Math.max(endedAt, fact.t) });
      break;
    case "resumed": {
      const open = line.pauses.at(-1);
      if (open) open.to = fact.t;
      break;
    }
    case "killed":
    case "stopping":
      line.gone = Math.min(line.gone ?? Infinity, fact.t);
      break;
    case "status":
      line.statuses.push({ t: fact.t, takesWork: fact.takesWork });
      break;
  }
}

/** Since when a process has been dead or paused without a break, at `t`. */
function deadSince(line: Timeline, t: number): number | undefined {
  if (line.gone !== undefined && line.gone <= t) return line.gone;
  const pause = line.pauses.find((p) => p.from <= t && t < p.to);
  return pause?.from;
}

/** Whether a pause within [from, to] was long enough to lose the lease. */
function pausedPastLease(
  line: Timeline,
  from: number,
  to: number,
  leaseMs: number,
): boolean {
  return line.pauses.some((p) =>
    p.from <= to && p.to >= from &&
    Math.min(p.to, to) - p.from > leaseMs - PAUSE_SLACK_MS
  );
}

function takesWorkAt(line: Timeline, t: number): boolean {
  let value = true;
  for (const change of line.statuses) {
    if (change.t > t) break;
    value = change.takesWork;
  }
  return value;
}

function takesWorkThroughout(line: Timeline, from: number, to: number) {
  return takesWorkAt(line, from) &&
    !line.statuses.some((c) => c.t >= from && c.t <= to && !c.takesWork);
}

function seqAt(line: Timeline, t: number): number | undefined {
  let seq: number | undefined;
  for (const entry of line.seqs) {
    if (entry.t > t) break;
    seq = entry.seq;
  }
  return seq;
}

/** When `seq` was replaced by a newer registration of the same process. */
function replacedAt(line: Timeline, seq: number): number | undefined {
  const index = line.seqs.findIndex((entry) => entry.seq === seq);
  return index >= 0 ? line.seqs[index + 1]?.t : undefined;
}

/**
 * Checks a run's history against the promise.
 *
 * @param history What the run recorded.
 * @returns Every violation found, in time order.
 */
export function checkHistory(history: History): Violation[] {
  const lines = timelines(history);
  const violations = [
    ...checkDeadListed(history, lines),
    ...checkFalseLeaves(history, lines),
    ...checkNewSeqs(history, lines),
    ...checkMissing(history, lines),
    ...checkSettled(history),
    ...checkTerms(history),
    ...checkOverlaps(history),
    ...checkFence(history),
    ...checkLeaderReturns(history, lines),
  ];
  return violations.sort((a, b) => a.at - b.at);
}

/** The end of the latest fault that overlaps [from, to], if any. */
function faultEndWithin(
  faults: readonly FaultWindow[],
  from: number,
  to: number,
): number | undefined {
  let end: number | undefined;
  for (const fault of faults) {
    if (fault.from <= to && fault.to >= from) {
      end = Math.max(end ?? -Infinity, fault.to);
    }
  }
  return end;
}

function checkDeadListed(
  history: History,
  lines: Map<string, Timeline>,
): Violation[] {
  const { ttl } = history.settings;
  const out: Violation[] = [];
  for (const obs of history.observations) {
    if (!obs.ok) continue;
    for (const seen of obs.seen) {
      const line = lines.get(seen.id);
      if (!line) continue;
      // A seq registered after the death is a new life, not the dead one.
      const bornAt = line.seqs.find((entry) => entry.seq === seen.seq)?.t;
      const replaced = replacedAt(line, seen.seq);
      const died = Math.min(
        deadSince(line, obs.sentAt) ?? Infinity,
        replaced ?? Infinity,
      );
      if (died === Infinity || (bornAt ?? -Infinity) > died) continue;
      // When the lease ran out, as the backend saw it: later where it
      // renewed every lease as it came back from a fault.
      let lapse = died + ttl;
      const renewedEnd = faultEndWithin(
        history.faults.filter((fault) => fault.renewsLeases),
        died,
        lapse,
      );
      if (renewedEnd !== undefined) {
        lapse = Math.max(lapse, renewedEnd + ttl + RENEWAL_EXTRA_MS);
      }
      let until = lapse + SHOWN_SLACK_MS;
      if (obs.fromView) {
        // The backend may expire it a little after the ttl: a fault that
        // began meanwhile began before the expiry.
        const expired = lapse + (history.settings.expiryLagMs ?? 0);
        const faultEnd = faultEndWithin(history.faults, died, expired);
        if (faultEnd !== undefined) {
          until = Math.max(until, faultEnd + ttl + SHOWN_SLACK_MS);
        }
        // A fault that began after the lapse, in the moment before the
        // leave could be recorded, holds the leave back until it ends.
        const lateEnd = faultEndWithin(
          history.faults,
          expired,
          expired + SHOWN_SLACK_MS,
        );
        if (lateEnd !== undefined) {
          until = Math.max(until, lateEnd + SHOWN_SLACK_MS);
        }
      }
      if (obs.sentAt > until) {
        out.push({
          rule: "dead-listed",
          message:
            `${obs.node}'s ${obs.op} showed ${seen.id} (seq ${seen.seq}) ${
              obs.sentAt - died
            } ms after it ${
              replaced === died ? "was replaced by a new seq" : "died"
            } (ttl ${ttl} ms)`,
          at: obs.sentAt,
          nodes: [seen.id, obs.node],
        });
      }
    }
  }
  return out;
}

function leaseOf(history: History): number {
  return history.settings.ttl - history.settings.interval;
}

function checkFalseLeaves(
  history: History,
  lines: Map<string, Timeline>,
): Violation[] {
  const out: Violation[] = [];
  for (const event of history.watches) {
    if (event.type !== "leave") continue;
    const line = lines.get(event.id);
    if (!line) continue;
    if (line.gone !== undefined && line.gone <= event.t) continue;
    if (seqAt(line, event.t) !== event.seq) continue;
    const since = line.seqs.find((s) => s.seq === event.seq)?.t ??
      line.started;
    if (pausedPastLease(line, since, event.t, leaseOf(history))) continue;
    if (documentedLeave(history, event)) continue;
    out.push({
      rule: "false-leave",
      message:
        `${event.node} saw ${event.id} (seq ${event.seq}) leave (${event.reason}) while its process ran`,
      at: event.t,
      nodes: [event.id, event.node],
    });
  }
  return out;
}

/**
 * Whether a leave is what the driver documents for a fault it declares
 * drops live entries: in the fault or just after it, and followed by a
 * join of the same seq at the same watcher within one interval (plus a
 * heartbeat timeout and a second) of the fault's end, or of the end of the
 * faults that followed before the owner could put it back.
 */
function documentedLeave(
  history: History,
  leave: History["watches"][number],
): boolean {
  const { interval, heartbeatTimeout } = history.settings;
  const back = interval + heartbeatTimeout + SHOWN_SLACK_MS;
  return history.faults.some((fault) => {
    if (!fault.expiresLiving || leave.t < fault.from) return false;
    if (leave.t > fault.to + back) return false;
    let deadline = fault.to + back;
    for (const next of history.faults) {
      if (next.from >= fault.from && next.from <= deadline) {
        deadline = Math.max(deadline, next.to + back);
      }
    }
    return history.watches.some((join) =>
      join.type === "join" && join.node === leave.node &&
      join.id === leave.id && join.seq === leave.seq && join.t >= leave.t &&
      join.t <= deadline
    );
  });
}

function checkNewSeqs(
  history: History,
  lines: Map<string, Timeline>,
): Violation[] {
  const out: Violation[] = [];
  for (const [node, line] of lines) {
    for (let i = 1; i < line.seqs.length; i++) {
      const previous = line.seqs[i - 1]!;
      const current = line.seqs[i]!;
      if (current.seq === previous.seq) continue;
      if (pausedPastLease(line, previous.t, current.t, leaseOf(history))) {
        continue;
      }
      out.push({
        rule: "new-seq",
        message:
          `${node} registered again with seq ${current.seq} (was ${previous.seq}) though it was never paused past its lease`,
        at: current.t,
        nodes: [node],
      });
    }
  }
  return out;
}

/** Whether a member must appear in a complete listing sent at `obs.sentAt`. */
function mustBeListed(
  history: History,
  line: Timeline,
  obs: Observation,
): boolean {
  const { ttl, interval, heartbeatTimeout } = history.settings;
  const first = line.seqs[0];
  // A view hears of a new registration a moment after it was made.
  const heard = obs.fromView ? SHOWN_SLACK_MS : 0;
  if (!first || first.t + heard >= obs.sentAt) return false;
  if (line.gone !== undefined && line.gone <= obs.t) return false;
  if (line.pauses.some((p) => p.from <= obs.t && p.to >= obs.sentAt - ttl)) {
    return false;
  }
  // Registered anew lately: the new seq may not be out yet.
  if (line.seqs.slice(1).some((s) => s.t >= obs.sentAt - ttl && s.t <= obs.t)) {
    return false;
  }
  const reach = interval + heartbeatTimeout + 500;
  return takesWorkThroughout(line, obs.sentAt - reach, obs.t);
}

function checkMissing(
  history: History,
  lines: Map<string, Timeline>,
): Violation[] {
  const { interval, heartbeatTimeout, service } = history.settings;
  const settle = interval + heartbeatTimeout + 500;
  const out: Violation[] = [];
  for (const obs of history.observations) {
    if (!obs.ok || !obs.complete) continue;
    // A fault that excuses short listings does so while it lasts and for
    // one interval after; one that does not (a write pause) only after.
    const excused = history.faults.some((f) =>
      (f.excusesMissing ? obs.t >= f.from : obs.t > f.to) &&
      obs.sentAt <= f.to + settle
    );
    if (excused) continue;
    const shown = new Set(obs.seen.map((s) => s.id));
    for (const [node, line] of lines) {
      if (!node.startsWith(`${service}-`)) continue;
      if (shown.has(node) || !mustBeListed(history, line, obs)) continue;
      out.push({
        rule: "missing",
        message: `${obs.node}'s ${obs.op} (sent ${
          obs.sentAt - history.facts[0]!.t
        } ms into the run) left out ${node}, which was running`,
        at: obs.sentAt,
        nodes: [node, obs.node],
      });
    }
  }
  return out;
}

function checkSettled(history: History): Violation[] {
  const settled = history.settled;
  if (!settled) return [];
  const truth = settled.truth.join(" ");
  const out: Violation[] = [];
  for (const [watcher, state] of Object.entries(settled.watchers)) {
    if (state.join(" ") === truth) continue;
    out.push({
      rule: "watch",
      message: `${watcher}'s replayed events end in [${
        state.join(" ")
      }], the backend holds [${truth}]`,
      at: history.endedAt,
      nodes: [watcher],
    });
  }
  return out;
}

type Grant = Extract<MemberReport, { kind: "granted" }>;

function grantsOf(history: History): Grant[] {
  return history.members.filter((r): r is Grant => r.kind === "granted")
    .sort((a, b) => a.t - b.t);
}

function checkTerms(history: History): Violation[] {
  const grants = grantsOf(history);
  const out: Violation[] = [];
  for (const earlier of grants) {
    for (const later of grants) {
      if (earlier === later) continue;
      const ordered = earlier.t < later.sentAt && earlier.term >= later.term;
      const shared = earlier.term === later.term &&
        earlier.node !== later.node && earlier.t <= later.t;
      if (!ordered && !shared) continue;
      out.push({
        rule: "term",
        message: shared
          ? `${earlier.node} and ${later.node} were both granted term ${later.term}`
          : `${later.node} was granted term ${later.term} after ${earlier.node} had been granted ${earlier.term}`,
        at: later.t,
        nodes: [earlier.node, later.node],
      });
    }
  }
  return out;
}

function checkOverlaps(history: History): Violation[] {
  // Valid from the first check's end to the last check's start: valid()
  // only turns false, so it held all along in between.
  const windows = new Map<
    string,
    { node: string; term: number; from: number; to: number }
  >();
  for (const write of history.writes) {
    const key = `${write.node} ${write.term}`;
    const known = windows.get(key);
    if (!known) {
      windows.set(key, {
        node: write.node,
        term: write.term,
        from: write.checkedTo,
        to: write.checkedFrom,
      });
    } else {
      known.from = Math.min(known.from, write.checkedTo);
      known.to = Math.max(known.to, write.checkedFrom);
    }
  }
  const list = [...windows.values()].filter((w) => w.from < w.to);
  const out: Violation[] = [];
  for (let i = 0; i < list.length; i++) {
    for (let j = i + 1; j < list.length; j++) {
      const a = list[i]!;
      const b = list[j]!;
      if (a.node === b.node) continue;
      if (a.from < b.to && b.from < a.to) {
        out.push({
          rule: "overlap",
          message:
            `${a.node} (term ${a.term}) and ${b.node} (term ${b.term}) were both valid leaders for ${
              Math.min(a.to, b.to) - Math.max(a.from, b.from)
            } ms`,
          at: Math.max(a.from, b.from),
          nodes: [a.node, b.node],
        });
      }
    }
  }
  return out;
}

function checkFence(history: History): Violation[] {
  let highest = -Infinity;
  let holder = "";
  const out: Violation[] = [];
  for (const write of [...history.writes].sort((a, b) => a.t - b.t)) {
    if (!write.accepted) continue;
    if (write.term < highest) {
      out.push({
        rule: "fence",
        message:
          `the fenced register accepted term ${write.term} from ${write.node} after term ${highest} from ${holder}`,
        at: write.t,
        nodes: [write.node, holder],
      });
    } else {
      highest = write.term;
      holder = write.node;
    }
  }
  return out;
}

function checkLeaderReturns(
  history: History,
  lines: Map<string, Timeline>,
): Violation[] {
  const { ttl, interval } = history.settings;
  const grants = grantsOf(history);
  const bound = ttl + SHOWN_SLACK_MS;
  const out: Violation[] = [];
  for (let i = 0; i < grants.length; i++) {
    const grant = grants[i]!;
    const line = lines.get(grant.node);
    if (!line) continue;
    const next = grants[i + 1];
    // When the leader died, if it did while still the last one granted.
    const pause = line.pauses.find((p) =>
      p.from >= grant.t && p.to - p.from > ttl + SHOWN_SLACK_MS
    );
    const died = Math.min(line.gone ?? Infinity, pause?.from ?? Infinity);
    if (died === Infinity || died < grant.t) continue;
    if (next && next.t <= died) continue;
    const deadline = died + bound;
    if (deadline > history.endedAt) continue;
    if (next && next.t <= deadline) continue;
    if (faultEndWithin(history.faults, died - ttl, deadline) !== undefined) {
      continue;
    }
    const heir = [...lines].some(([node, other]) =>
      node !== grant.node && node.startsWith(`${history.settings.service}-`) &&
      (other.seqs[0]?.t ?? Infinity) < died - interval &&
      deadSince(other, deadline) === undefined &&
      !other.pauses.some((p) => p.from <= deadline && p.to >= died - ttl) &&
      takesWorkThroughout(other, died - ttl, deadline) &&
      !other.seqs.some((s) => s.t > died - ttl && s.t <= deadline)
    );
    if (!heir) continue;
    out.push({
      rule: "no-leader",
      message:
        `no leader was granted within ${bound} ms after ${grant.node} (term ${grant.term}) died${
          next ? ` (next grant after ${next.t - died} ms)` : ""
        }`,
      at: deadline,
      nodes: [grant.node],
    });
  }
  return out;
}

/**
 * The part of a history that explains a violation: what happened to the
 * processes involved, the faults, and their observations, from a few
 * seconds before it.
 *
 * @param history The run.
 * @param violation One of its violations.
 * @returns Lines of text, oldest first, times relative to the run's start.
 */
export function excerpt(history: History, violation: Violation): string[] {
  const start = history.facts[0]?.t ?? 0;
  const from = violation.at - history.settings.ttl - 3_000;
  const to = violation.at + 1_000;
  const involved = new Set(violation.nodes);
  const rows: [number, string][] = [];
  const near = (t: number) => t >= from && t <= to;
  for (const f of history.facts) {
    if (near(f.t) && involved.has(f.node)) {
      rows.push([
        f.t,
        `${f.node} ${f.kind}${
          f.kind === "status" ? ` takesWork=${f.takesWork}` : ""
        }`,
      ]);
    }
  }
  for (const f of history.faults) {
    if (f.from <= to && f.to >= from) {
      rows.push([f.from, `fault ${f.name} until +${f.to - start}`]);
    }
  }
  for (const m of history.members) {
    if (near(m.t) && involved.has(m.node)) {
      rows.push([
        m.t,
        `${m.node} ${m.kind} ${m.kind === "granted" ? m.term : m.seq}`,
      ]);
    }
  }
  for (const w of history.watches) {
    if (near(w.t) && (involved.has(w.id) || involved.has(w.node))) {
      rows.push([w.t, `${w.node} saw ${w.type} ${w.reason} ${w.id}:${w.seq}`]);
    }
  }
  // Observations only where they change, so a steady listing is one line.
  const last = new Map<string, string>();
  for (const o of history.observations) {
    if (!near(o.sentAt) || !involved.has(o.node) || o.op === "view") continue;
    const text = `${o.node} ${o.op} ${
      o.ok ? `[${o.seen.map((s) => s.id).join(" ")}]` : "failed"
    }`;
    if (last.get(`${o.node} ${o.op}`) === text) continue;
    last.set(`${o.node} ${o.op}`, text);
    rows.push([o.sentAt, text]);
  }
  return rows.sort((a, b) => a[0] - b[0]).slice(-40).map(([t, text]) =>
    `+${t - start} ms  ${text}`
  );
}
