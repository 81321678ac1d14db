import assert from "node:assert/strict";
import { readInstanceRequest } from "../../runner/instance_requests.ts";

Deno.test("a request is read from a message; anything else is not one", () => {
  const read = readInstanceRequest;
  assert.deepEqual(read({ roster: "drain", linger: 1500 }), {
    kind: "drain",
    linger: 1500,
  });
  assert.deepEqual(read({ roster: "drain" }), { kind: "drain" });
  assert.deepEqual(read({ roster: "drain", linger: -1 }), { kind: "drain" });
  assert.deepEqual(read({ roster: "drain", linger: "1s" }), { kind: "drain" });
  assert.deepEqual(read({ roster: "maintenance", on: true, ttl: 60_000 }), {
    kind: "maintenance",
    on: true,
    ttl: 60_000,
  });
  assert.deepEqual(read({ roster: "maintenance", on: false, ttl: 0 }), {
    kind: "maintenance",
    on: false,
  });
  assert.equal(read({ roster: "maintenance" }), undefined, "on or off");
  assert.equal(read({ roster: "stop" }), undefined);
  assert.equal(read("drain"), undefined);
  assert.equal(read(null), undefined);
});
