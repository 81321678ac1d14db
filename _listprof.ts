import { RedisDriver } from "./drivers/redis/mod.ts";
import { RedisServer } from "./tests/_redis_server.ts";
import { registration } from "./tests/_registration.ts";
await using redis = await RedisServer.start();
const driver = await RedisDriver.connect({ url: redis.url });
const regs = Array.from(
  { length: 10_000 },
  (_, i) =>
    registration({
      env: "big",
      id: `node-${i}`,
      service: `svc-${i % 10}`,
      ttl: 600_000,
    }),
);
for (let i = 0; i < regs.length; i += 500) {
  await Promise.all(regs.slice(i, i + 500).map((r) => driver.register(r)));
}
const times: number[] = [];
for (let i = 0; i < 80; i++) {
  const t = performance.now();
  const list = await driver.list({ env: "big" });
  times.push(performance.now() - t);
  if (list.length !== 10_000) throw new Error(String(list.length));
}
times.sort((a, b) => a - b);
console.log(
  "p50",
  times[40]!.toFixed(1),
  "p90",
  times[72]!.toFixed(1),
  "max",
  times[79]!.toFixed(1),
);
await driver.close();
