/**
 * Leader and standby: run this in several terminals with the Redis driver.
 * One process leads (the oldest live instance) and does the leader-only
 * work; the others wait. Stop the leader (Ctrl-C) and the next oldest takes
 * over. Every write carries the fencing number, so a stale leader's writes
 * can be refused.
 *
 *   deno run -A examples/leader_standby.ts redis://127.0.0.1:6379
 */

import { Registry } from "../mod.ts";
import { RedisDriver } from "../drivers/redis/mod.ts";

const url = Deno.args[0] ?? "redis://127.0.0.1:6379";
const driver = await RedisDriver.connect({ url });
const controller = new AbortController();
Deno.addSignalListener("SIGINT", () => controller.abort());

await using registry = new Registry({
  driver,
  service: "billing-cron",
  heartbeatInterval: "1s",
  ttl: "3s",
  signal: controller.signal,
});
const me = await registry.start();
console.log(`${me.id} is standing by`);

while (!controller.signal.aborted) {
  let leadership;
  try {
    leadership = await registry.standby({ signal: controller.signal });
  } catch {
    break; // stopped while waiting
  }
  console.log(`${me.id} leads with fencing number ${leadership.fencing}`);
  // Leader-only work, until leadership ends.
  while (!leadership.signal.aborted) {
    console.log(`run the job, writing with fencing=${leadership.fencing}`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  console.log(`${me.id} stepped down: ${leadership.signal.reason}`);
}
await registry.stop();
await driver.close();
