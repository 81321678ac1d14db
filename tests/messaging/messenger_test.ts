import assert from "node:assert/strict";
import {
  type Driver,
  MAX_QUEUED_MESSAGES,
  Registry,
  RegistryStateError,
} from "../../mod.ts";
import { MemoryDriver } from "../../testing/mod.ts";

Deno.test("a stalled messages() consumer keeps at most the newest 10,000 and counts the rest as dropped", async () => {
  const driver = new MemoryDriver();
  await using registry = new Registry({ driver, service: "api", id: "a" });
  await registry.start();
  const controller = new AbortController();
  const stream = registry.messages({ signal: controller.signal });
  // The first next() subscribes; it waits for the first message.
  const first = stream.next();
  const total = MAX_QUEUED_MESSAGES + 500;
  for (let i = 0; i < total; i++) await registry.send("a", i);
  // Let the in-process deliveries (a microtask each) land.
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal((await first).value?.data, 0);
  assert.equal(registry.droppedMessages, 499);
  const next = await stream.next();
  assert.equal(next.value?.data, 500, "the oldest were dropped");
  controller.abort();
  await stream.return(undefined);
});

Deno.test("messaging on a driver without pub/sub fails with one clear error", async () => {
  const inner = new MemoryDriver();
  // A backend with everything but pub/sub, as etcd would be.
  const driver: Driver = {
    name: "no-pubsub",
    register: (r) => inner.register(r),
    heartbeat: (r) => inner.heartbeat(r),
    deregister: (k) => inner.deregister(k),
    list: (q) => inner.list(q),
    services: (e) => inner.services(e),
    purge: (e) => inner.purge(e),
    snapshot: (e) => inner.snapshot(e),
    changes: (e, c, o) => inner.changes(e, c, o),
    campaign: (r) => inner.campaign(r),
    resign: (r, t) => inner.resign(r, t),
    close: () => inner.close(),
  };
  await using registry = new Registry({ driver, service: "api", id: "a" });
  await registry.start();
  await assert.rejects(
    registry.send("a", "hello"),
    (error: Error) =>
      error instanceof RegistryStateError &&
      /has no pub\/sub/.test(error.message),
  );
});
