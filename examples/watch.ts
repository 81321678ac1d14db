/**
 * Watch a service: print the live instances, then every join, update and
 * leave as it happens.
 *
 *   deno run -A examples/watch.ts redis://127.0.0.1:6379 api
 */

import { Registry } from "../mod.ts";
import { RedisDriver } from "../drivers/redis/mod.ts";

const url = Deno.args[0] ?? "redis://127.0.0.1:6379";
const service = Deno.args[1] ?? "api";
const driver = await RedisDriver.connect({ url });
const controller = new AbortController();
Deno.addSignalListener("SIGINT", () => controller.abort());

await using registry = new Registry({ driver });
registry.on("view", ({ state }) => console.log(`(the view is ${state})`));
for await (
  const event of registry.watch(service, {
    current: true,
    signal: controller.signal,
  })
) {
  const { instance } = event;
  console.log(
    `${event.type} (${event.reason}) ${instance.id} at ${instance.addr}`,
  );
}
await driver.close();
