import assert from "node:assert/strict";
import {
  HISTORY_MS,
  recordLatency,
  StatusHistory,
} from "../../../runner/http/status_history.ts";

Deno.test("a count is recorded when it changes, or once a minute when it does not", () => {
  const history = new StatusHistory();
  history.count("api", 0, 3);
  history.count("api", 1_000, 3);
  history.count("api", 2_000, 2);
  history.count("api", 30_000, 2);
  history.count("api", 62_000, 2);
  assert.deepEqual(history.answer(70_000, []).services.api?.counts, [
    [0, 3],
    [2_000, 2],
    [62_000, 2],
  ]);
});

Deno.test("the answer covers the last hour: the count in force at its start is kept, older marks let go, a quiet empty service dropped", () => {
  const history = new StatusHistory();
  history.count("api", 0, 2);
  history.event("api", 0, "join");
  history.count("api", 10_000, 3);
  history.event("api", 10_000, "join");
  history.event("api", HISTORY_MS + 20_000, "leave");
  history.count("api", HISTORY_MS + 20_000, 2);
  history.count("gone", 0, 0);
  history.protection("api", 5_000, true);
  history.protection("api", 6_000, false);
  history.protection("api", HISTORY_MS + 15_000, true);
  const now = HISTORY_MS + 30_000;
  const answer = history.answer(now, [[10, 1], [now - 5, 2]]);
  assert.equal(answer.from, 30_000);
  assert.deepEqual(answer.services.api, {
    counts: [[10_000, 3], [HISTORY_MS + 20_000, 2]],
    joins: [],
    leaves: [HISTORY_MS + 20_000],
    protection: [[HISTORY_MS + 15_000, null]],
  });
  assert.equal(answer.services.gone, undefined);
  assert.deepEqual(answer.latency, [[now - 5, 2]]);
});

Deno.test("protection periods open and close once each; latencies keep the last hour only", () => {
  const history = new StatusHistory();
  history.protection("api", 1, true);
  history.protection("api", 2, true);
  history.protection("api", 3, false);
  history.protection("api", 4, false);
  assert.deepEqual(history.answer(10, []).services.api?.protection, [[1, 3]]);
  const latencies: [number, number][] = [];
  recordLatency(latencies, 0, 1);
  recordLatency(latencies, HISTORY_MS, 2);
  recordLatency(latencies, HISTORY_MS + 1, 3);
  assert.deepEqual(latencies, [[HISTORY_MS, 2], [HISTORY_MS + 1, 3]]);
});

Deno.test("a flapping service cannot grow the history past its cap", () => {
  const history = new StatusHistory();
  for (let i = 0; i < 10_000; i++) {
    history.count("api", i, i % 2);
    history.event("api", i, i % 2 ? "join" : "leave");
  }
  const api = history.answer(10_000, []).services.api!;
  assert.equal(api.counts.length, 4_000);
  assert.equal(api.joins.length + api.leaves.length, 8_000);
  assert.deepEqual(api.counts.at(-1), [9_999, 1]);
});
