/**
 * The checker against planted bugs: a history that keeps the promise has
 * no violation, and each kind of broken promise (a resurrection, a false
 * leave, a new seq, a missing instance, an overlap, a falling term, a
 * fence that let a lower term through, no leader after a death, a watcher
 * that ends wrong) is caught. And the guards' other side: what the slack
 * allows (a process paused past its lease leaving, a fault excusing a
 * short listing) is not reported.
 */

import assert from "node:assert/strict";
import { checkHistory, excerpt } from "./checker.ts";
import type { History } from "./history.ts";

const T0 = 1_000_000;

/** Three members, a watcher and a cold observer for 10 s; all is well. */
function cleanHistory(): History {
  const at = (ms: number) => T0 + ms;
  const history: History = {
    settings: {
      ttl: 600,
      interval: 200,
      heartbeatTimeout: 100,
      service: "svc",
    },
    facts: [
      { t: at(0), node: "svc-1", kind: "started" },
      { t: at(0), node: "svc-2", kind: "started" },
      { t: at(0), node: "svc-3", kind: "started" },
      { t: at(0), node: "watch", kind: "started" },
      { t: at(0), node: "cold", kind: "started" },
      { t: at(5_000), node: "svc-1", kind: "killed" },
    ],
    faults: [],
    members: [
      { t: at(100), node: "svc-1", kind: "registered", seq: 1 },
      { t: at(110), node: "svc-2", kind: "registered", seq: 2 },
      { t: at(120), node: "svc-3", kind: "registered", seq: 3 },
      { t: at(200), node: "svc-1", kind: "granted", term: 10, sentAt: at(190) },
      {
        t: at(5_500),
        node: "svc-2",
        kind: "granted",
        term: 11,
        sentAt: at(5_490),
      },
    ],
    writes: [],
    observations: [],
    watches: [
      {
        node: "watch",
        t: at(150),
        type: "join",
        reason: "current",
        id: "svc-1",
        seq: 1,
        status: "healthy",
      },
      {
        node: "watch",
        t: at(150),
        type: "join",
        reason: "current",
        id: "svc-2",
        seq: 2,
        status: "healthy",
      },
      {
        node: "watch",
        t: at(150),
        type: "join",
        reason: "current",
        id: "svc-3",
        seq: 3,
        status: "healthy",
      },
      {
        node: "watch",
        t: at(5_450),
        type: "leave",
        reason: "expired",
        id: "svc-1",
        seq: 1,
        status: "healthy",
      },
    ],
    settled: {
      watchers: { watch: ["svc-2:2:healthy", "svc-3:3:healthy"] },
      truth: ["svc-2:2:healthy", "svc-3:3:healthy"],
    },
    endedAt: at(10_000),
  };
  // Leader writes every 100 ms: svc-1 until it dies, then svc-2.
  for (let ms = 300; ms < 10_000; ms += 100) {
    const node = ms < 5_000 ? "svc-1" : ms > 5_500 ? "svc-2" : undefined;
    if (!node) continue;
    history.writes.push({
      node,
      term: node === "svc-1" ? 10 : 11,
      checkedFrom: at(ms),
      checkedTo: at(ms + 1),
      t: at(ms + 2),
      accepted: true,
    });
  }
  // A cold listing every 250 ms, telling the truth.
  for (let ms = 300; ms < 10_000; ms += 250) {
    const seen = [
      ...(ms < 5_400 ? [{ id: "svc-1", seq: 1 }] : []),
      { id: "svc-2", seq: 2 },
      { id: "svc-3", seq: 3 },
    ];
    history.observations.push({
      node: "cold",
      op: "list",
      sentAt: at(ms),
      t: at(ms + 3),
      ok: true,
      seen,
      complete: true,
      fromView: false,
    });
  }
  return history;
}

function rules(history: History): string[] {
  return checkHistory(history).map((v) => v.rule);
}

Deno.test("checker: a history that keeps the promise has no violation", () => {
  assert.deepEqual(checkHistory(cleanHistory()), []);
});

Deno.test("checker: a resurrection (the dead listed) is caught", () => {
  const history = cleanHistory();
  history.observations.push({
    node: "cold",
    op: "list",
    sentAt: T0 + 7_000,
    t: T0 + 7_003,
    ok: true,
    seen: [{ id: "svc-1", seq: 1 }, { id: "svc-2", seq: 2 }, {
      id: "svc-3",
      seq: 3,
    }],
    complete: true,
    fromView: false,
  });
  assert.deepEqual(rules(history), ["dead-listed"]);
  // Within ttl + 1 s of the death it is allowed.
  history.observations.at(-1)!.sentAt = T0 + 5_500;
  assert.deepEqual(rules(history), []);
});

Deno.test("checker: a replaced seq shown long after is a resurrection", () => {
  const history = cleanHistory();
  history.facts.push(
    { t: T0 + 6_000, node: "svc-3", kind: "paused" },
    { t: T0 + 7_000, node: "svc-3", kind: "resumed" },
  );
  history.members.push({
    t: T0 + 7_100,
    node: "svc-3",
    kind: "reregistered",
    seq: 9,
  });
  history.observations.push({
    node: "watch",
    op: "view",
    sentAt: T0 + 9_000,
    t: T0 + 9_000,
    ok: true,
    seen: [{ id: "svc-3", seq: 3 }],
    complete: false,
    fromView: true,
  });
  assert.ok(rules(history).includes("dead-listed"));
});

Deno.test("checker: a false leave is caught, a leave after a long pause is not", () => {
  const history = cleanHistory();
  history.watches.push({
    node: "watch",
    t: T0 + 8_000,
    type: "leave",
    reason: "expired",
    id: "svc-3",
    seq: 3,
    status: "healthy",
  });
  assert.ok(rules(history).includes("false-leave"));
  history.facts.push(
    { t: T0 + 7_000, node: "svc-3", kind: "paused" },
    { t: T0 + 7_900, node: "svc-3", kind: "resumed" },
  );
  assert.ok(!rules(history).includes("false-leave"));
  // A brief pause (shorter than the lease) excuses nothing.
  history.facts.splice(
    -2,
    2,
    { t: T0 + 7_000, node: "svc-3", kind: "paused" },
    {
      t: T0 + 7_150,
      node: "svc-3",
      kind: "resumed",
    },
  );
  assert.ok(rules(history).includes("false-leave"));
});

Deno.test("checker: a leave in a fault the driver says expires the living is excused only if the same seq joins again soon after", () => {
  const history = cleanHistory();
  const leave = {
    node: "watch",
    t: T0 + 8_000,
    type: "leave" as const,
    reason: "expired" as const,
    id: "svc-3",
    seq: 3,
    status: "healthy" as const,
  };
  history.watches.push(leave);
  history.faults.push({
    name: "freeze",
    from: T0 + 7_000,
    to: T0 + 7_990,
    excusesMissing: true,
  });
  // A fault without the flag excuses no leave.
  assert.ok(rules(history).includes("false-leave"));
  history.faults[0]!.expiresLiving = true;
  // No join again: still a false leave.
  assert.ok(rules(history).includes("false-leave"));
  // A join under a new seq is no excuse either.
  history.watches.push({ ...leave, t: T0 + 8_200, type: "join", seq: 13 });
  assert.ok(rules(history).includes("false-leave"));
  // Too late: past one interval, a heartbeat timeout and a second.
  history.watches.push({ ...leave, t: T0 + 9_400, type: "join" });
  assert.ok(rules(history).includes("false-leave"));
  history.watches.push({ ...leave, t: T0 + 8_250, type: "join" });
  assert.ok(!rules(history).includes("false-leave"));
  // A fault that began before it could come back moves the deadline.
  history.watches.pop();
  history.watches.pop();
  history.faults.push({
    name: "freeze",
    from: T0 + 9_000,
    to: T0 + 10_000,
    excusesMissing: true,
  });
  history.watches.push({ ...leave, t: T0 + 10_500, type: "join" });
  assert.ok(!rules(history).includes("false-leave"));
});

Deno.test("checker: a dead instance listed after a fault that renews leases is excused for a ttl and the renewal's extra after it, no longer", () => {
  const history = cleanHistory();
  // svc-1 was killed at 5 s; a restart from 5.5 s to 6 s renewed its lease.
  history.faults.push({
    name: "restart with data",
    from: T0 + 5_500,
    to: T0 + 6_000,
    excusesMissing: true,
  });
  const listing = (ms: number) => ({
    node: "cold",
    op: "list",
    sentAt: T0 + ms,
    t: T0 + ms + 5,
    ok: true,
    fromView: false,
    complete: true,
    seen: [{ id: "svc-1", seq: 1 }],
  });
  history.observations.push(listing(7_000));
  assert.ok(rules(history).includes("dead-listed"));
  history.faults[0]!.renewsLeases = true;
  assert.ok(!rules(history).includes("dead-listed"));
  history.observations.push(listing(8_700));
  assert.ok(rules(history).includes("dead-listed"));
});

Deno.test("checker: a view keeps a dead instance through a fault that began within the backend's expiry lag, for a ttl after it", () => {
  const history = cleanHistory();
  // svc-1 was killed at 5 s: its lease ran out at 5.6 s; a fault began at
  // 5.8 s, before a backend that expires up to 0.5 s late expired it.
  history.faults.push({
    name: "restart without data",
    from: T0 + 5_800,
    to: T0 + 6_000,
    excusesMissing: true,
  });
  history.observations.push({
    node: "watch",
    op: "view",
    sentAt: T0 + 7_300,
    t: T0 + 7_300,
    ok: true,
    fromView: true,
    complete: true,
    seen: [{ id: "svc-1", seq: 1 }],
  });
  assert.ok(rules(history).includes("dead-listed"));
  history.settings.expiryLagMs = 500;
  assert.ok(!rules(history).includes("dead-listed"));
});

Deno.test("checker: a new seq for a process that ran is caught", () => {
  const history = cleanHistory();
  history.members.push({
    t: T0 + 8_000,
    node: "svc-3",
    kind: "reregistered",
    seq: 12,
  });
  // (Cold listings that still show seq 3 are resurrections too.)
  assert.ok(rules(history).includes("new-seq"));
});

Deno.test("checker: a complete listing missing a live member is caught, unless a fault excuses it", () => {
  const history = cleanHistory();
  history.observations.push({
    node: "cold",
    op: "list",
    sentAt: T0 + 8_000,
    t: T0 + 8_004,
    ok: true,
    seen: [{ id: "svc-2", seq: 2 }],
    complete: true,
    fromView: false,
  });
  assert.deepEqual(rules(history), ["missing"]);
  history.faults.push({
    name: "restart",
    from: T0 + 7_800,
    to: T0 + 7_900,
    excusesMissing: true,
  });
  assert.deepEqual(rules(history), []);
  // A write pause excuses nothing while it lasts: reads must fail or be
  // complete. Answered after it ended, a listing may be short a moment.
  history.faults[0] = {
    name: "pause",
    from: T0 + 7_800,
    to: T0 + 8_100,
    excusesMissing: false,
  };
  assert.deepEqual(rules(history), ["missing"]);
  history.faults[0].to = T0 + 8_002;
  assert.deepEqual(rules(history), []);
  // Too long after the fault it is missing again.
  history.faults[0] = {
    name: "restart",
    from: T0 + 6_000,
    to: T0 + 6_100,
    excusesMissing: true,
  };
  assert.deepEqual(rules(history), ["missing"]);
});

Deno.test("checker: an overlap of valid windows is caught", () => {
  const history = cleanHistory();
  history.writes.push({
    node: "svc-2",
    term: 11,
    checkedFrom: T0 + 4_500,
    checkedTo: T0 + 4_501,
    t: T0 + 4_502,
    accepted: true,
  });
  assert.ok(rules(history).includes("overlap"));
});

Deno.test("checker: a falling term and a shared term are caught", () => {
  const history = cleanHistory();
  history.members.push({
    t: T0 + 9_000,
    node: "svc-3",
    kind: "granted",
    term: 9,
    sentAt: T0 + 8_990,
  });
  assert.deepEqual(rules(history), ["term", "term"]);
  (history.members.at(-1) as { term: number }).term = 11;
  assert.deepEqual(rules(history), ["term"]);
});

Deno.test("checker: a fence that accepted a lower term is caught", () => {
  const history = cleanHistory();
  history.writes.push({
    node: "svc-1",
    term: 10,
    checkedFrom: T0 + 4_900,
    checkedTo: T0 + 4_901,
    t: T0 + 9_999,
    accepted: true,
  });
  assert.deepEqual(rules(history), ["fence"]);
  // Refused, it is fencing at work, not a violation.
  history.writes.at(-1)!.accepted = false;
  assert.deepEqual(rules(history), []);
});

Deno.test("checker: no leader after the leader died is caught, unless a fault is under way", () => {
  const history = cleanHistory();
  const grant = history.members.pop()!;
  assert.equal(grant.kind, "granted");
  history.writes = history.writes.filter((w) => w.node === "svc-1");
  assert.deepEqual(rules(history), ["no-leader"]);
  history.faults.push({
    name: "freeze",
    from: T0 + 5_100,
    to: T0 + 5_300,
    excusesMissing: true,
  });
  assert.deepEqual(rules(history), []);
});

Deno.test("checker: a watcher that ends wrong is caught", () => {
  const history = cleanHistory();
  history.settled!.watchers.watch = [
    "svc-1:1:healthy",
    "svc-2:2:healthy",
    "svc-3:3:healthy",
  ];
  assert.deepEqual(rules(history), ["watch"]);
});

Deno.test("checker: an excerpt names what happened around a violation", () => {
  const history = cleanHistory();
  history.members.push({
    t: T0 + 8_000,
    node: "svc-3",
    kind: "reregistered",
    seq: 12,
  });
  const [violation] = checkHistory(history);
  const lines = excerpt(history, violation!);
  assert.ok(lines.some((line) => line.includes("svc-3 reregistered 12")));
});

Deno.test("checker: a view keeps a crash that lapsed just before a fault until 1 s after the fault, no longer", () => {
  const history = cleanHistory();
  // svc-1 died at 5 s and lapsed at 5.6 s; a freeze from 5.8 s to 8 s held
  // its leave back.
  history.faults.push({
    name: "freeze",
    from: T0 + 5_800,
    to: T0 + 8_000,
    excusesMissing: true,
  });
  history.observations.push({
    node: "watch",
    op: "view",
    sentAt: T0 + 8_900,
    t: T0 + 8_900,
    ok: true,
    seen: [{ id: "svc-1", seq: 1 }, { id: "svc-2", seq: 2 }, {
      id: "svc-3",
      seq: 3,
    }],
    complete: false,
    fromView: true,
  });
  assert.deepEqual(rules(history), []);
  // A ttl after the fault (a grace as if the lapse fell in it) is too late.
  history.observations.at(-1)!.sentAt = T0 + 8_000 + 600 + 500;
  assert.deepEqual(rules(history), ["dead-listed"]);
  // And a cold listing has no such slack.
  const cold = history.observations.at(-1)!;
  cold.sentAt = T0 + 8_900;
  cold.fromView = false;
  cold.op = "list";
  assert.deepEqual(rules(history), ["dead-listed"]);
});
