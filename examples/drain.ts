/**
 * Leave without failing a request: drain first. A draining instance stays
 * listed, so operators see it, but pickers, `instances()`, waits and
 * elections skip it; after its linger it deregisters. Also: maintenance
 * that ends by itself, and a `warning` health that keeps an instance in
 * rotation with a tenth of its weight. The in-memory driver stands in for
 * Redis here.
 *
 *   deno run -A examples/drain.ts
 *
 * In a real service, drain on SIGTERM and let the linger cover the time
 * your load balancers and clients take to notice:
 *
 * ```ts ignore
 * Deno.addSignalListener("SIGTERM", async () => {
 *   await registry.drain({ linger: "10s" }); // then it deregisters
 *   Deno.exit(0);
 * });
 * ```
 */

import { Registry, RoundRobinPicker, WeightedPicker } from "../mod.ts";
import { MemoryDriver } from "../drivers/memory/mod.ts";

const driver = new MemoryDriver();
const start = async (id: string) => {
  const registry = new Registry({ driver, service: "api", id });
  await registry.start();
  return registry;
};
const a = await start("api-a");
const b = await start("api-b");

await using client = new Registry({ driver, cache: true });
const roundRobin = new RoundRobinPicker();
const weighted = new WeightedPicker();
const calls = async (picker: RoundRobinPicker | WeightedPicker, n: number) => {
  const picked: string[] = [];
  for (let i = 0; i < n; i++) {
    picked.push((await client.pick("api", picker))?.id ?? "-");
  }
  return picked.join(" ");
};

console.log("both serving:     ", await calls(roundRobin, 4));

// Degraded but serving: a tenth of its weight.
a.setStatus("warning");
await new Promise((resolve) => setTimeout(resolve, 50));
const picks = (await calls(weighted, 110)).split(" ");
console.log(
  "api-a in warning: ",
  `api-a ${picks.filter((id) => id === "api-a").length} of 110 picks`,
);
a.setStatus("healthy");

// Drain api-a: recorded before drain() goes on, skipped at once.
const draining = a.drain({ linger: "300ms" });
await new Promise((resolve) => setTimeout(resolve, 50));
console.log("api-a draining:   ", await calls(roundRobin, 4));
console.log(
  "still listed:     ",
  (await client.allInstances("api")).map((i) => `${i.id}=${i.status}`).join(
    " ",
  ),
);
await draining; // the linger is over and api-a deregistered
console.log(
  "after the linger: ",
  (await client.allInstances("api")).map((i) => i.id).join(" "),
);

// Maintenance ends by itself, so a crashed deploy tool cannot leave it on.
await b.setMaintenance(true, { ttl: "200ms" });
console.log("in maintenance:   ", await calls(roundRobin, 2));
await new Promise((resolve) => setTimeout(resolve, 300));
console.log("ttl passed:       ", await calls(roundRobin, 2));

await b.stop();
