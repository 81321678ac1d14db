/**
 * Leader and standby: run this in several terminals with the Redis driver.
 * The backend grants the oldest live, healthy instance a term; the others
 * wait. Stop the leader (Ctrl-C) and the next oldest is granted a higher term
 * once the old one resigned. Every write carries the term as a fencing token,
 * so a store that refuses lower tokens also refuses a stale leader, and
 * `assertValid()` just before each write stops a leader that was paused past
 * its lease before it writes.
 *
 *   deno run -A examples/leader_standby.ts redis://127.0.0.1:6379
 */

import { setTimeout as sleep } from "node:timers/promises";
import { LeadershipLostError, Registry } from "../mod.ts";
import { RedisDriver } from "../drivers/redis/mod.ts";

const url = Deno.args[0] ?? "redis://127.0.0.1:6379";
const driver = await RedisDriver.connect({ url });
const controller = new AbortController();
const onInterrupt = () => controller.abort();
Deno.addSignalListener("SIGINT", onInterrupt);

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
  console.log(`${me.id} leads, term ${leadership.term}`);
  try {
    // Leader-only work, one unit at a time, until leadership ends.
    for (let unit = 1;; unit++) {
      await sleep(1000, undefined, { signal: leadership.signal });
      leadership.assertValid(); // just before the side effect
      console.log(`write unit ${unit} with fencing token ${leadership.term}`);
    }
  } catch (error) {
    if (!(error instanceof LeadershipLostError) && !leadership.signal.aborted) {
      throw error;
    }
  }
  console.log(`${me.id} stepped down: ${leadership.signal.reason}`);
}
await registry.stop();
await driver.close();
Deno.removeSignalListener("SIGINT", onInterrupt);
