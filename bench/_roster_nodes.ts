/**
 * Hosts many roster nodes in one process for the benchmark: each a
 * registry with a Redis connection of its own, beating as a separate
 * process would; or, with `watch`, as many discovery-only watchers.
 *
 * Usage: deno run -A bench/_roster_nodes.ts <redisUrl> <count> <intervalMs>
 * <ttlMs> [nodes|watch]
 */

import { RedisDriver } from "../drivers/redis/mod.ts";
import { Registry } from "../registry.ts";

const [url, countText, interval, ttl, mode = "nodes"] = Deno.args;
const count = Number(countText);
const drivers: RedisDriver[] = [];
const registries: Registry[] = [];
const watching = new AbortController();
const streams: Promise<void>[] = [];
for (let i = 0; i < count; i++) {
  const driver = await RedisDriver.connect({ url });
  drivers.push(driver);
  const registry = new Registry({
    driver,
    service: mode === "watch" ? undefined : "bench",
    id: mode === "watch" ? undefined : `node-${i}`,
    heartbeatInterval: Number(interval),
    ttl: Number(ttl),
  });
  registries.push(registry);
  if (mode === "watch") {
    const events = registry.watch("bench", { signal: watching.signal });
    streams.push((async () => {
      for await (const _ of events) { /* consumed */ }
    })());
  } else await registry.start();
}
console.log(JSON.stringify({ type: "started", count }));
const stop = async () => {
  watching.abort();
  for (const registry of registries) await registry.stop();
  await Promise.all(streams);
  for (const driver of drivers) await driver.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", stop);
