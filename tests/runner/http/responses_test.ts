import assert from "node:assert/strict";
import {
  headOf,
  json,
  SECURITY_HEADERS,
} from "../../../runner/http/_responses.ts";

Deno.test("json answers carry the security headers and a JSON body; headOf keeps status and headers, drops the body", async () => {
  const answer = json({ ok: true }, 503);
  assert.equal(answer.status, 503);
  assert.equal(
    answer.headers.get("content-type"),
    "application/json; charset=utf-8",
  );
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
    assert.equal(answer.headers.get(name), value);
  }
  const head = await headOf(json({ ok: true }, 503));
  assert.equal(head.status, 503);
  assert.equal(head.body, null);
  assert.equal(head.headers.get("x-content-type-options"), "nosniff");
  assert.deepEqual(await answer.json(), { ok: true });
});
