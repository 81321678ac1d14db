import assert from "node:assert/strict";
import {
  AlreadyRegisteredError,
  ChangeLogGapError,
  ConfigError,
  LeadershipLostError,
  RegistryStateError,
  TimeoutError,
  WaitForTimeoutError,
} from "../mod.ts";

Deno.test("each error has its own name, one sentence with the values quoted, and its fields", () => {
  const cause = new Error("WRONGPASS");
  const config = new ConfigError("Invalid 'ttl' (\"0s\"): use at least 100ms", {
    field: "ttl",
    file: "cluster.toml",
    cause,
  });
  assert.equal(config.name, "ConfigError");
  assert.equal(config.field, "ttl");
  assert.equal(config.file, "cluster.toml");
  assert.equal(config.cause, cause);

  const taken = new AlreadyRegisteredError("api-1", "prod", { cause });
  assert.equal(taken.name, "AlreadyRegisteredError");
  assert.match(
    taken.message,
    /id 'api-1' in env 'prod' is held by another live owner; choose another 'id'/,
  );
  assert.deepEqual([taken.id, taken.env, taken.cause], [
    "api-1",
    "prod",
    cause,
  ]);

  const state = new RegistryStateError("Cannot drain: the registry is idle");
  assert.equal(state.name, "RegistryStateError");

  const timeout = new TimeoutError("heartbeat", 250);
  assert.equal(timeout.name, "TimeoutError");
  assert.equal(
    timeout.message,
    "Timed out: 'heartbeat' took longer than 250ms",
  );
  assert.equal(timeout.timeout, 250);

  const gap = new ChangeLogGapError("prod", "7:12", { dataLost: true });
  assert.equal(gap.name, "ChangeLogGapError");
  assert.match(
    gap.message,
    /env 'prod' after cursor '7:12' were lost; take a new snapshot/,
  );
  assert.equal(gap.dataLost, true);
  assert.equal(new ChangeLogGapError("prod", "1:1").dataLost, false);

  const lost = new LeadershipLostError(
    "api-1",
    "api",
    42,
    "the registry stopped",
  );
  assert.equal(lost.name, "LeadershipLostError");
  assert.match(
    lost.message,
    /'api-1' no longer leads 'api' \(term 42\): the registry stopped; stop leader-only work/,
  );
  assert.deepEqual([lost.term, lost.reason], [42, "the registry stopped"]);
  for (const error of [config, taken, state, timeout, gap, lost]) {
    assert.ok(error instanceof Error);
    assert.equal(error.message.split("\n").length, 1, error.message);
  }
});

Deno.test("WaitForTimeoutError is a TimeoutError that says how many were live and what to check", () => {
  const error = new WaitForTimeoutError("db", 3, 1, 5_000);
  assert.ok(error instanceof TimeoutError);
  assert.equal(error.name, "WaitForTimeoutError");
  assert.equal(
    error.message,
    "Timed out after 5s waiting for 3 live instances of 'db' (1 live); check that they run in the same env and with the driver this process uses",
  );
  assert.deepEqual([error.service, error.min, error.live, error.timeout], [
    "db",
    3,
    1,
    5_000,
  ]);
  assert.match(
    new WaitForTimeoutError("db", 1, 0, 50).message,
    /for 1 live instance of 'db'/,
  );
});
