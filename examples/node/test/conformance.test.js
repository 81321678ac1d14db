// The driver conformance suite, under node:test, against the memory driver
// and a real redis-server: the same suite `deno test` runs.
import { test } from "node:test";
import { Redis } from "ioredis";
import { RedisDriver } from "@roster/roster/redis";
import {
  FakeClock,
  MemoryDriver,
  testDriverConformance,
} from "@roster/roster/testing";
import { startRedis } from "./_redis.js";

test("the memory driver passes the conformance suite", async (t) => {
  const clock = new FakeClock();
  const driver = new MemoryDriver({ clock });
  await testDriverConformance((name, fn) => t.test(name, fn), {
    driver,
    peer: driver,
    ttl: 1000,
    advance: (ms) => clock.tickAsync(ms),
    stored: (env) => Promise.resolve(driver.stored(env)),
    trimChanges: (env) => Promise.resolve(driver.trimChanges(env)),
  });
});

test("the Redis driver passes the conformance suite", async (t) => {
  const redis = await startRedis();
  const driver = await RedisDriver.connect({ url: redis.url });
  const peer = await RedisDriver.connect({ url: redis.url });
  const admin = new Redis(redis.url);
  try {
    await testDriverConformance((name, fn) => t.test(name, fn), {
      driver,
      peer,
      ttl: 300,
      advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      // The entries of the env's id index, as the Deno suite counts them.
      stored: async (env) => Number(await admin.hlen(`roster:{${env}}:ids`)),
      trimChanges: async (env) => {
        await admin.xtrim(`roster:{${env}}:log`, "MAXLEN", 0);
      },
    });
  } finally {
    admin.disconnect();
    await driver.close();
    await peer.close();
    await redis.stop();
  }
});
