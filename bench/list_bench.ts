/**
 * `deno bench bench/list_bench.ts`: where a direct listing of 10k instances
 * spends its time on the client, in one process, on a redis-server started
 * for it. Run with `--cpu-prof` for a profile.
 */

import { RedisDriver } from "../drivers/redis/mod.ts";
import { RedisServer } from "../tests/_redis_server.ts";

const server = await RedisServer.start();
const driver = await RedisDriver.connect({
  url: server.url,
  commandTimeout: 10_000,
});
const env = "listbench";
const regs = Array.from({ length: 10_000 }, (_, i) => ({
  id: `inst-${i}`,
  service: `svc-${i % 10}`,
  env,
  version: "1.2.3",
  addr: `http://10.0.${(i >> 8) & 255}.${i & 255}:8080`,
  meta: { zone: "eu-1" },
  hostname: `host-${i}`,
  pid: 1000 + i,
  owner: crypto.randomUUID(),
  status: "healthy" as const,
  ttl: 600_000,
  heartbeatInterval: 200_000,
}));
for (let i = 0; i < regs.length; i += 1000) {
  await Promise.all(regs.slice(i, i + 1000).map((r) => driver.register(r)));
}

Deno.bench(
  "list 10k instances, all services",
  { n: 30, warmup: 3 },
  async () => {
    await driver.list({ env });
  },
);

Deno.bench(
  "list 1k instances, one service",
  { n: 100, warmup: 5 },
  async () => {
    await driver.list({ env, services: ["svc-1"] });
  },
);

Deno.bench("raw GET of each service's records and slots (no parsing)", {
  n: 30,
  warmup: 3,
}, async () => {
  await Promise.all(Array.from({ length: 10 }, (_, s) =>
    Promise.all([
      driver.client.call("GET", `roster:{${env}}:p:svc-${s}`),
      driver.client.call("GET", `roster:{${env}}:b:svc-${s}`),
    ])));
});

globalThis.addEventListener("unload", () => {
  driver.close();
  server[Symbol.asyncDispose]();
});
