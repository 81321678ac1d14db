import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { RedisDriver } from "../drivers/redis.ts";
import { testDriverConformance } from "../testing.ts";
import { RedisServer, redisTest, sleep } from "./_redis_server.ts";

async function storedEntries(
  client: Redis,
  prefix: string,
  env: string,
): Promise<number> {
  const base = `${prefix}{${env}}:`;
  const [hashed, scored] = await Promise.all([
    client.hlen(`${base}i`),
    client.zcard(`${base}x`),
  ]);
  assert.equal(hashed, scored, "the hash and the expiry index agree");
  return hashed;
}

redisTest("redis driver passes the conformance suite", async (t) => {
  await using server = await RedisServer.start();
  const driver = await RedisDriver.connect({ url: server.url });
  const peer = await RedisDriver.connect({ url: server.url });
  try {
    const admin = await server.admin();
    await testDriverConformance(t, {
      driver,
      peer,
      ttl: 300,
      advance: (ms) => sleep(ms),
      stored: (env) => storedEntries(admin, "roster:", env),
    });
  } finally {
    await driver.close();
    await peer.close();
  }
});
