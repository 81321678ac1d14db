import { FakeClock, MemoryDriver, testDriverConformance } from "../testing.ts";

Deno.test("memory driver passes the conformance suite", async (t) => {
  const clock = new FakeClock();
  const driver = new MemoryDriver({ clock });
  await testDriverConformance(t, {
    driver,
    peer: driver,
    ttl: 1000,
    advance: (ms) => clock.tickAsync(ms),
    stored: (env) => Promise.resolve(driver.stored(env)),
    trimChanges: (env) => Promise.resolve(driver.trimChanges(env)),
  });
});
