/**
 * Hosts many roster nodes in one process for the benchmark: each a
 * registry with a Redis connection of its own, beating as a separate
 * process would; with `nodes-view`, each also keeps a cached view of the
 * service (the work a Moleculer node does on every beat); with `watch`,
 * discovery-only watchers. A line `count` on stdin prints how many
 * heartbeats the nodes have sent so far: the bench divides by what was
 * sent, not by what Redis ran.
 *
 * Usage: deno run -A bench/_roster_nodes.ts <redisUrl> <count> <intervalMs>
 * <ttlMs> [nodes|nodes-view|watch]
 */

import { RedisDriver } from "../drivers/redis/mod.ts";
import { Registry } from "../registry.ts";

const [url, countText, interval, ttl, mode = "nodes"] = Deno.args;
const count = Number(countText);
const watching = mode === "watch";
const drivers: RedisDriver[] = [];
const registries: Registry[] = [];
const controller = new AbortController();
const streams: Promise<void>[] = [];
let beats = 0;
for (let i = 0; i < count; i++) {
  const driver = await RedisDriver.connect({ url });
  drivers.push(driver);
  const registry = new Registry({
    driver,
    service: watching ? undefined : "bench",
    id: watching ? undefined : `node-${i}`,
    heartbeatInterval: Number(interval),
    ttl: Number(ttl),
    cache: mode === "nodes-view",
  });
  registries.push(registry);
  if (watching) {
    const events = registry.watch("bench", { signal: controller.signal });
    streams.push((async () => {
      for await (const _ of events) { /* consumed */ }
    })());
  } else {
    registry.on("heartbeat", () => beats++);
    await registry.start();
    // The view is built on first use and then follows the change feed.
    if (mode === "nodes-view") await registry.instances("bench");
  }
}
console.log(JSON.stringify({ type: "started", count }));
const stop = async () => {
  controller.abort();
  for (const registry of registries) await registry.stop();
  await Promise.all(streams);
  for (const driver of drivers) await driver.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", stop);
for await (
  const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())
) {
  if (chunk.includes("count")) {
    console.log(JSON.stringify({ type: "count", beats }));
  }
}
