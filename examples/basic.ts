/**
 * Registers this process as an instance of "api", lists the live instances,
 * and deregisters on Ctrl-C.
 *
 *   deno run -A examples/basic.ts
 */

import { Registry } from "../mod.ts";

const controller = new AbortController();
Deno.addSignalListener("SIGINT", () => controller.abort());

await using registry = new Registry({
  service: "api",
  version: "1.0.0",
  addr: "http://127.0.0.1:8080",
  meta: { zone: "local" },
  heartbeatInterval: "5s",
  ttl: "15s",
  signal: controller.signal,
});
registry.on("heartbeat_failed", ({ error, retryIn }) => {
  console.warn(`heartbeat failed: ${error}; retrying in ${retryIn}ms`);
});
registry.on("reregistered", ({ instance }) => {
  console.warn(
    `the backend had lost us; registered again as seq ${instance.seq}`,
  );
});

const me = await registry.start();
console.log(`registered ${me.id}`);
for (const instance of await registry.instances("api")) {
  console.log(`live: ${instance.id} ${instance.addr} (seq ${instance.seq})`);
}
await new Promise((resolve) =>
  controller.signal.addEventListener("abort", resolve)
);
console.log("stopping");
