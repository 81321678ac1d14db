/**
 * Pick an instance to call: a cached view (no round trip per pick), a
 * round-robin picker, and a selector that keeps to one zone and skips this
 * process. The in-memory driver stands in for Redis here.
 *
 *   deno run -A examples/picker.ts
 */

import { Registry, RoundRobinPicker } from "../mod.ts";
import { MemoryDriver } from "../drivers/memory/mod.ts";

const driver = new MemoryDriver();
const started: Registry[] = [];
for (
  const [id, zone] of [["api-1", "eu"], ["api-2", "eu"], [
    "api-3",
    "us",
  ]] as const
) {
  const registry = new Registry({ driver, service: "api", id, meta: { zone } });
  await registry.start();
  started.push(registry);
}

await using client = new Registry({ driver, cache: true });
const picker = new RoundRobinPicker();
for (let i = 0; i < 4; i++) {
  const target = await client.pick("api", picker, { meta: { zone: "eu" } });
  console.log(`call ${target?.id}`);
}
for (const registry of started) await registry.stop();
