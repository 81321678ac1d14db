import { FakeClock, MemoryDriver, testDriverConformance } from "../testing.ts";

Deno.test("memory driver passes the conformance suite", async (t) => {
  const clock = new FakeClock();
  const driver = new MemoryDriver({ clock, changeLogLength: 16 });
  await testDriverConformance(t, {
    driver,
    peer: driver,
    ttl: 1000,
    advance: (ms) => clock.tickAsync(ms),
    stored: (env) => Promise.resolve(driver.stored(env)),
    // The log keeps 16 changes: 20 more push every earlier one out.
    trimChanges: async (env) => {
      for (let i = 0; i < 10; i++) {
        const filler = {
          id: `filler-${i}`,
          service: "filler",
          env,
          version: "",
          addr: "",
          meta: {},
          hostname: "h",
          pid: 1,
          owner: "o",
          ttl: 1000,
        };
        await driver.register(filler);
        await driver.deregister(filler);
      }
    },
  });
});
