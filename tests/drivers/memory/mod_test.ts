import assert from "node:assert/strict";
import { ChangeLogGapError } from "../../../errors.ts";
import { MemoryDriver } from "../../../testing/mod.ts";

Deno.test("the memory change log keeps its newest changes and reports a gap past them", async () => {
  const driver = new MemoryDriver({ changeLogLength: 3 });
  const { cursor } = await driver.snapshot("e");
  const reg = (id: string) => ({
    id,
    service: "api",
    env: "e",
    version: "",
    addr: "",
    meta: {},
    hostname: "h",
    pid: 1,
    owner: "o",
    status: "healthy" as const,
    ttl: 10_000,
    heartbeatInterval: 3_000,
  });
  for (const id of ["a", "b", "c", "d"]) await driver.register(reg(id));
  await assert.rejects(
    driver.changes("e", cursor, { waitMs: 0 }),
    ChangeLogGapError,
  );
  await assert.rejects(
    driver.changes("e", "not-a-cursor", { waitMs: 0 }),
    ChangeLogGapError,
  );
  const fresh = await driver.snapshot("e");
  await driver.register(reg("e"));
  const batch = await driver.changes("e", fresh.cursor, { waitMs: 0 });
  assert.deepEqual(batch.changes.map((c) => c.instance.id), ["e"]);
});
