import assert from "node:assert/strict";
import {
  decodeMessage,
  encodeMessage,
  MessageTooLargeError,
} from "../../messaging/message.ts";
import { ConfigError } from "../../errors.ts";

const message = (data: unknown) => ({
  kind: "direct" as const,
  from: "a",
  to: "b",
  data,
  sentAt: 1,
});

Deno.test("messages round-trip through JSON", () => {
  const text = encodeMessage(message({ n: 1, s: "héllo" }), 1024);
  assert.deepEqual(decodeMessage(text), message({ n: 1, s: "héllo" }));
});

Deno.test("a message over the limit fails with its size and the limit", () => {
  assert.throws(
    () => encodeMessage(message("x".repeat(2000)), 1024),
    (error: unknown) => {
      assert.ok(error instanceof MessageTooLargeError);
      assert.equal(error.limit, 1024);
      assert.ok(error.size > 2000);
      assert.match(error.message, /more than the 1024 allowed/);
      return true;
    },
  );
});

Deno.test("data that is not JSON fails clearly", () => {
  assert.throws(() => encodeMessage(message(1n), 1024), ConfigError);
  assert.throws(
    () => encodeMessage(message(undefined), 1024),
    /undefined or a function/,
  );
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.throws(() => encodeMessage(message(cyclic), 1024), /not JSON/);
});

Deno.test("foreign payloads on a channel are dropped", () => {
  for (
    const text of [
      "",
      "not json",
      "42",
      '{"kind":"other"}',
      '{"kind":"direct","to":1}',
    ]
  ) {
    assert.equal(decodeMessage(text), undefined);
  }
});
