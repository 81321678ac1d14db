/** The examples run, and print what their comments promise. */

import assert from "node:assert/strict";

async function run(example: string): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      new URL(`../examples/${example}`, import.meta.url).pathname,
    ],
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder();
  assert.equal(code, 0, text.decode(stderr));
  return text.decode(stdout);
}

Deno.test("examples/drain.ts: draining skips, lists, then leaves; maintenance ends by itself; warning keeps a tenth", async () => {
  const out = await run("drain.ts");
  assert.match(out, /both serving: +api-a api-b api-a api-b/);
  assert.match(out, /api-a in warning: +api-a 10 of 110 picks/);
  assert.match(out, /api-a draining: +api-b api-b api-b api-b/);
  assert.match(out, /still listed: +api-a=draining api-b=healthy/);
  assert.match(out, /after the linger: +api-b\n/);
  assert.match(out, /in maintenance: +- -/);
  assert.match(out, /ttl passed: +api-b api-b/);
});

Deno.test("examples/zone_picker.ts: stays in its zone, weighted, and falls back when it runs short", async () => {
  const out = await run("zone_picker.ts");
  const [healthy, short] = out.trim().split("\n");
  const ids = (line: string | undefined) => line?.split(/ +/).slice(2) ?? [];
  assert.ok(ids(healthy).every((id) => id.startsWith("eu-")), out);
  assert.equal(ids(healthy).filter((id) => id === "eu-big").length, 6);
  assert.ok(ids(short).includes("us-1"), out);
});

Deno.test("examples/cluster.toml is a valid config", async () => {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      new URL("../runner/main.ts", import.meta.url).pathname,
      "check",
      "--config",
      new URL("../examples/cluster.toml", import.meta.url).pathname,
    ],
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
});
