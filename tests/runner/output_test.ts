import assert from "node:assert/strict";
import { paint, terminalSafe } from "../../runner/output.ts";

Deno.test("terminalSafe shows what a terminal would obey: escapes, line breaks and bidirectional overrides", () => {
  assert.equal(terminalSafe("api-1 healthy"), "api-1 healthy");
  assert.equal(
    terminalSafe("\x1b]52;c;ZXZpbA==\x07"),
    "\\x1b]52;c;ZXZpbA==\\x07",
  );
  assert.equal(terminalSafe("a\nforged row\tx\r"), "a\\nforged row\\tx\\r");
  assert.equal(terminalSafe("id\u202Egnp.exe"), "id\\u202egnp.exe");
  assert.equal(terminalSafe("\u0085\u007f"), "\\x85\\x7f");
  // Ordinary non-ASCII text is left alone.
  assert.equal(terminalSafe("zone=Zürich ✓"), "zone=Zürich ✓");
});

Deno.test("paint colours only when asked", () => {
  assert.equal(paint("ok", "green", { enabled: true }), "\x1b[32mok\x1b[0m");
  assert.equal(paint("ok", "green", { enabled: false }), "ok");
});
