import assert from "node:assert/strict";
import { redactUrl, withoutPassword } from "../../contract/redact_url.ts";

Deno.test("redactUrl masks the password of a URL, parsed or not, and leaves the rest", () => {
  assert.equal(
    redactUrl("redis://:s3cret@host:6379/0"),
    "redis://:***@host:6379/0",
  );
  assert.equal(
    redactUrl("postgres://roster:s3cret@db.internal:5432/app?sslmode=require"),
    "postgres://roster:***@db.internal:5432/app?sslmode=require",
  );
  // A URL the parser refuses (port out of range) is still masked.
  assert.equal(
    redactUrl("postgres://u:s3cret@h:99999/db"),
    "postgres://u:***@h:99999/db",
  );
  assert.equal(redactUrl("redis://host:6379"), "redis://host:6379");
  assert.equal(redactUrl("not a url"), "not a url");
});

Deno.test("withoutPassword removes the password wherever a message quotes it", () => {
  const url = "redis://user:s3cret@h:6379";
  assert.equal(
    withoutPassword("WRONGPASS for s3cret; tried s3cret twice", url),
    "WRONGPASS for ***; tried *** twice",
  );
  assert.equal(withoutPassword("refused", "redis://h:6379"), "refused");
});
