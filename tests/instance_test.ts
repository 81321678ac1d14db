import assert from "node:assert/strict";
import {
  defaultInstanceId,
  validateMeta,
  validateName,
  validateText,
} from "../instance.ts";
import { ConfigError } from "../errors.ts";

Deno.test("validateName accepts [A-Za-z0-9._-]{1,128} only", () => {
  for (const good of ["a", "api-1", "A.b_c-9", "x".repeat(128)]) {
    assert.equal(validateName("id", good), good);
  }
  for (
    const bad of ["", "a b", "a:b", "ä", "x".repeat(129), 5, undefined, null]
  ) {
    assert.throws(() => validateName("id", bad), ConfigError, String(bad));
  }
});

Deno.test("validateMeta bounds keys, value size and total size, counting UTF-8 bytes", () => {
  assert.deepEqual(validateMeta(undefined), {});
  assert.doesNotThrow(() => validateMeta({ v: "x".repeat(1024) }));
  // 342 three-byte characters are 1026 bytes: over the 1 KiB value limit.
  assert.throws(() => validateMeta({ v: "€".repeat(342) }), /1026 bytes/);
  assert.doesNotThrow(() =>
    validateMeta(
      Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, "v"])),
    )
  );
  assert.throws(
    () => validateMeta({ "": "v" }),
    /key '' must be 1 to 128 bytes/,
  );
  assert.throws(() => validateMeta(["a"]), /got an array/);
  assert.throws(
    () => validateMeta({ a: null }),
    (e: unknown) => e instanceof ConfigError && e.field === "meta.a",
  );
});

Deno.test("validateMeta returns a copy the caller cannot change later", () => {
  const input = { zone: "eu-1" };
  const meta = validateMeta(input);
  input.zone = "changed";
  assert.equal(meta.zone, "eu-1");
});

Deno.test("validateText allows empty and bounded strings", () => {
  assert.equal(validateText("addr", undefined), "");
  assert.throws(
    () => validateText("addr", "x".repeat(1025)),
    /longer than 1024 bytes/,
  );
});

Deno.test("defaultInstanceId is valid and random even for odd host names", () => {
  const ids = new Set(
    Array.from({ length: 100 }, () => defaultInstanceId("api", "my host:1")),
  );
  assert.equal(ids.size, 100);
  for (const id of ids) {
    assert.match(id, /^api-my-host-1-[0-9a-f]{8}$/);
    validateName("id", id);
  }
  validateName("id", defaultInstanceId("s".repeat(128), "h".repeat(200)));
});
