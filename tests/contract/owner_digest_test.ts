import assert from "node:assert/strict";
import { ownerDigest } from "../../contract/owner_digest.ts";

Deno.test("ownerDigest is 16 hex digits, the same for a token, different across tokens, and never the token", () => {
  const token = crypto.randomUUID();
  const digest = ownerDigest(token);
  assert.match(digest, /^[0-9a-f]{16}$/);
  assert.equal(ownerDigest(token), digest);
  assert.notEqual(ownerDigest(crypto.randomUUID()), digest);
  assert.ok(!token.replaceAll("-", "").includes(digest));
});
