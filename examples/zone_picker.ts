/**
 * Call instances in your own zone, weighted, and fall back to every zone
 * when yours runs short: a `ZoneAwarePicker` over `WeightedPicker`s. The
 * in-memory driver stands in for Redis here.
 *
 *   deno run -A examples/zone_picker.ts
 */

import { Registry, ZoneAwarePicker } from "../mod.ts";
import { MemoryDriver } from "../drivers/memory/mod.ts";

const driver = new MemoryDriver();
const fleet = new Map<string, Registry>();
for (
  const [id, zone, weight] of [
    ["eu-big", "eu", 300],
    ["eu-small", "eu", 100],
    ["us-1", "us", 100],
  ] as const
) {
  const registry = new Registry({
    driver,
    service: "api",
    id,
    weight,
    meta: { zone },
  });
  await registry.start();
  fleet.set(id, registry);
}

await using client = new Registry({ driver, cache: true });
// Stay in "eu" while it has two healthy instances.
const picker = new ZoneAwarePicker({ zone: "eu", minInstances: 2 });
const calls = async (n: number) => {
  const picked: string[] = [];
  for (let i = 0; i < n; i++) {
    picked.push((await client.pick("api", picker))?.id ?? "-");
  }
  return picked.join(" ");
};
console.log("eu healthy:    ", await calls(8));
await fleet.get("eu-small")!.stop();
console.log("eu short of 2: ", await calls(6));

for (const registry of fleet.values()) await registry.stop();
