/**
 * The settled listing on its own: a crash answers at once, held beats are
 * waited for, and the wait is bounded.
 */

import assert from "node:assert/strict";
import {
  type ListingRead,
  settledListing,
} from "../../contract/settled_listing.ts";
import { type Instance, instanceOf } from "../../contract/mod.ts";
import { registration } from "../_registration.ts";

function instance(id: string): Instance {
  return instanceOf(registration({ id }), {
    seq: 1,
    registeredAt: 0,
    expiresAt: 1,
  });
}

/** Reads that answer from a script, one answer per call, the last repeated. */
function scripted(answers: ListingRead[]) {
  let calls = 0;
  return {
    read: () =>
      Promise.resolve(answers[Math.min(calls++, answers.length - 1)]!),
    get calls() {
      return calls;
    },
  };
}

const lapse = (id: string) => ({ id, heartbeatInterval: 100 });

Deno.test("settledListing: nothing doubtful is one read, and no test write", async () => {
  const reads = scripted([{ instances: [instance("a")], doubtful: [] }]);
  let wrote = false;
  const answer = await settledListing(reads.read, reads.read, () => {
    wrote = true;
    return Promise.resolve(0);
  });
  assert.deepEqual(answer.instances.map((i) => i.id), ["a"]);
  assert.equal(reads.calls, 1);
  assert.equal(wrote, false);
});

Deno.test("settledListing: a crash (the write lands at once, no one came back) answers after one more read", async () => {
  const reads = scripted([{ instances: [], doubtful: [lapse("a")] }]);
  const answer = await settledListing(
    reads.read,
    reads.read,
    () => Promise.resolve(1),
  );
  assert.deepEqual(answer.instances, []);
  assert.equal(reads.calls, 2);
});

Deno.test("settledListing: after a write that waited, it reads until every held owner is back", async () => {
  const reads = scripted([
    { instances: [], doubtful: [lapse("a"), lapse("b")] },
    { instances: [], doubtful: [] },
    { instances: [instance("a")], doubtful: [] },
    { instances: [instance("a"), instance("b")], doubtful: [] },
  ]);
  const answer = await settledListing(
    reads.read,
    reads.read,
    () => Promise.resolve(200),
  );
  assert.deepEqual(answer.instances.map((i) => i.id), ["a", "b"]);
  assert.equal(reads.calls, 4);
});

Deno.test("settledListing: one held owner back is evidence enough, even when the write did not wait", async () => {
  const reads = scripted([
    { instances: [], doubtful: [lapse("a"), lapse("b")] },
    { instances: [instance("a")], doubtful: [] },
    { instances: [instance("a"), instance("b")], doubtful: [] },
  ]);
  const answer = await settledListing(
    reads.read,
    reads.read,
    () => Promise.resolve(1),
  );
  assert.deepEqual(answer.instances.map((i) => i.id), ["a", "b"]);
});

Deno.test("settledListing: an owner that never comes back is waited for half its interval and a slack, then left out", async () => {
  const reads = scripted([
    { instances: [], doubtful: [lapse("a"), lapse("b")] },
    { instances: [instance("a")], doubtful: [] },
  ]);
  const answer = await settledListing(
    reads.read,
    reads.read,
    () => Promise.resolve(200),
  );
  assert.deepEqual(answer.instances.map((i) => i.id), ["a"]);
  // 150 ms at 40 ms apart: a handful of reads, not unbounded.
  assert.ok(reads.calls >= 3 && reads.calls <= 8, `${reads.calls} reads`);
});

Deno.test("settledListing: a test write that does not land fails the listing", async () => {
  const reads = scripted([{ instances: [], doubtful: [lapse("a")] }]);
  await assert.rejects(
    settledListing(
      reads.read,
      reads.read,
      () => Promise.reject(new Error("writes paused")),
    ),
    /writes paused/,
  );
});
