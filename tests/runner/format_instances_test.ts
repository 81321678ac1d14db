import assert from "node:assert/strict";
import type { Instance } from "../../mod.ts";
import { terminalSafe } from "../../runner/output.ts";
import {
  displayStatus,
  formatAge,
  formatInstanceTable,
} from "../../runner/format_instances.ts";

const base: Instance = {
  id: "a",
  service: "api",
  env: "default",
  version: "1.0.0",
  addr: "http://10.0.0.1:80",
  meta: { zone: "eu-1" },
  hostname: "h",
  pid: 1,
  status: "healthy",
  seq: 1,
  registeredAt: 0,
  heartbeatAt: 0,
  expiresAt: 3_000,
  heartbeatInterval: 1_000,
  weight: 100,
};

Deno.test("ages read like 2m31s", () => {
  assert.equal(formatAge(0), "0s");
  assert.equal(formatAge(45_900), "45s");
  assert.equal(formatAge(151_000), "2m31s");
  assert.equal(formatAge(3 * 3600_000 + 4 * 60_000), "3h4m");
  assert.equal(formatAge(2 * 86400_000 + 5 * 3600_000), "2d5h");
  assert.equal(
    formatAge(-5),
    "0s",
    "a clock offset never shows a negative age",
  );
});

Deno.test("an instance more than 1.5 intervals overdue shows as late", () => {
  assert.equal(displayStatus(base, 1_500), "healthy");
  assert.equal(displayStatus(base, 1_501), "late");
  assert.equal(displayStatus({ ...base, status: "unhealthy" }, 0), "unhealthy");
});

Deno.test("the table is grouped by service, with meta only when wide, and colour only when asked", () => {
  const instances = [
    { ...base, id: "w", service: "web", seq: 1 },
    { ...base, id: "b", seq: 3 },
    { ...base, id: "a", seq: 2 },
  ];
  const table = formatInstanceTable(instances, { now: 151_000 });
  assert.deepEqual(table.split("\n").map((l) => l.split(/\s+/).slice(0, 3)), [
    ["SERVICE", "ID", "STATUS"],
    ["api", "a", "late"],
    ["api", "b", "late"],
    ["web", "w", "late"],
    [""],
  ]);
  assert.doesNotMatch(table, /META|zone/);
  assert.match(table, /2m31s\s+2m31s ago/);
  assert.ok(!table.includes("\x1b"));
  const wide = formatInstanceTable(instances, {
    now: 500,
    wide: true,
    color: true,
  });
  assert.match(wide, /META/);
  assert.match(wide, /zone=eu-1/);
  assert.ok(wide.includes("\x1b[32mhealthy"), "healthy in green");
});

Deno.test("terminalSafe shows control characters instead of obeying them", () => {
  assert.equal(terminalSafe("plain ünïcode ✓"), "plain ünïcode ✓");
  assert.equal(terminalSafe("\x1b[2J"), "\\x1b[2J");
  assert.equal(terminalSafe("a\nb\tc\rd"), "a\\nb\\tc\\rd");
  assert.equal(terminalSafe("\x07\x7f\x9b"), "\\x07\\x7f\\x9b");
  assert.equal(terminalSafe("\u202eevil"), "\\u202eevil");
});
