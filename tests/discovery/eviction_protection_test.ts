import assert from "node:assert/strict";
import {
  EvictionProtection,
  resolveProtectionOptions,
} from "../../discovery/eviction_protection.ts";
import {
  ConfigError,
  type Instance,
  type ProtectionChange,
  Registry,
  type WatchEvent,
} from "../../mod.ts";
import { FakeClock, MemoryDriver } from "../../testing/mod.ts";
import { registration } from "../_registration.ts";

const at = (id: string, service = "api") => ({ id, service }) as Instance;
const defaults = resolveProtectionOptions(undefined)!;

Deno.test("the valve holds what would take a service past half within one ttl, and no less", () => {
  const valve = new EvictionProtection(defaults);
  // Six instances, four expire within one ttl (1000 ms).
  assert.equal(valve.expire(at("a"), 6, 1000, 0).action, "report");
  assert.equal(valve.expire(at("b"), 5, 1000, 10).action, "report");
  assert.equal(valve.expire(at("c"), 4, 1000, 20).action, "report");
  const fourth = valve.expire(at("d"), 3, 1000, 30);
  assert.equal(fourth.action, "hold", "4 of 6 is more than half");
  assert.deepEqual(fourth.change, {
    service: "api",
    on: true,
    held: [at("d")],
    until: 3030,
  });
  assert.equal(valve.expire(at("e"), 3, 1000, 40).action, "hold");
  assert.equal(valve.isHeld(at("e")), true);
  assert.equal(valve.nextBound, 3030);
  // Another service is not affected.
  assert.equal(valve.expire(at("x", "db"), 3, 1000, 50).action, "report");
  assert.equal(valve.release(at("d")), undefined, "e is still held");
  assert.deepEqual(valve.release(at("e")), {
    service: "api",
    on: false,
    held: [],
    reason: "beats resumed",
  });
  assert.equal(valve.nextBound, undefined);
});

Deno.test("the valve forgets expiries older than a ttl, and leaves small services alone", () => {
  const valve = new EvictionProtection(defaults);
  assert.equal(valve.expire(at("a"), 4, 1000, 0).action, "report");
  assert.equal(valve.expire(at("b"), 3, 1000, 500).action, "report");
  // Within the window, b's expiry counts: 2 of 3 would be held.
  assert.equal(valve.expire(at("c"), 2, 1000, 1200).action, "hold");
  const later = new EvictionProtection(defaults);
  assert.equal(later.expire(at("a"), 4, 1000, 0).action, "report");
  assert.equal(later.expire(at("b"), 3, 1000, 500).action, "report");
  // a's and b's expiries are out of the window: 1 of 2, not 3 of 4.
  assert.equal(later.expire(at("c"), 2, 1000, 1600).action, "report");
  const small = new EvictionProtection(defaults);
  assert.equal(small.expire(at("a"), 2, 1000, 0).action, "report");
  assert.equal(small.expire(at("b"), 1, 1000, 1).action, "report");
  const due = new EvictionProtection({ ...defaults, maxTtls: 2 });
  due.expire(at("a"), 3, 1000, 0);
  assert.equal(due.expire(at("b"), 2, 1000, 0).action, "hold");
  assert.deepEqual(due.due(1999), []);
  assert.deepEqual(due.due(2000), [{
    service: "api",
    on: false,
    held: [at("b")],
    reason: "bound passed",
  }]);
  assert.equal(due.isHeld(at("b")), false);
});

Deno.test("protection options are checked, with the field named", () => {
  assert.equal(resolveProtectionOptions(false), undefined);
  assert.deepEqual(resolveProtectionOptions({ threshold: 0.3 }), {
    threshold: 0.3,
    minInstances: 3,
    maxTtls: 3,
  });
  for (
    const [options, field] of [
      [{ threshold: 1 }, "protection.threshold"],
      [{ threshold: 0 }, "protection.threshold"],
      [{ minInstances: 1 }, "protection.minInstances"],
      [{ maxTtls: 0.5 }, "protection.maxTtls"],
    ] as const
  ) {
    assert.throws(
      () => new Registry({ driver: new MemoryDriver(), protection: options }),
      (error: unknown) =>
        error instanceof ConfigError && error.field === field &&
        error.message.includes(`'${field}'`),
    );
  }
});

Deno.test("an observer asleep past the bound releases the held at once when it wakes, and a cold observer never sees the dead fleet", async () => {
  const clock = new FakeClock();
  const driver = new MemoryDriver({ clock });
  const options = {
    driver,
    clock,
    env: "idle",
    ttl: 3000,
    heartbeatInterval: 1000,
  } as const;
  await using observer = new Registry(options);
  const changes: ProtectionChange[] = [];
  observer.on("protection", (change) => changes.push(change));
  const events: WatchEvent[] = [];
  const controller = new AbortController();
  const watching = (async () => {
    for await (
      const event of observer.watch("api", { signal: controller.signal })
    ) events.push(event);
  })();
  await clock.tickAsync(0);
  for (const id of ["a", "b", "c", "d"]) {
    await driver.register(registration({ id, env: "idle" }));
  }
  await clock.tickAsync(3_500);
  assert.equal(changes.length, 1);
  const until = changes[0]!.until!;
  assert.equal((await observer.instances("api")).length, 2, "two held");
  // Just before the bound they are still listed.
  await clock.tickAsync(until - clock.now() - 1);
  assert.equal((await observer.instances("api")).length, 2);
  // The process sleeps through hours; no timer runs meanwhile.
  clock.tick(5 * 3_600_000);
  await clock.tickAsync(300);
  assert.deepEqual(await observer.instances("api"), []);
  assert.deepEqual(
    changes.map((c) => [c.on, c.reason ?? "", c.held.length]),
    [[true, "", 1], [false, "bound passed", 2]],
  );
  assert.deepEqual(
    events.filter((e) => e.type === "leave").map((e) => e.reason),
    ["expired", "expired", "expired", "expired"],
  );
  // A process that starts now sees none of them.
  await using cold = new Registry(options);
  assert.deepEqual(await cold.allInstances(), []);
  controller.abort();
  await clock.tickAsync(0);
  await watching;
});
