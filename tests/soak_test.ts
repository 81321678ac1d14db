/**
 * Soak: many instances beating for a while, with a watcher and a lister.
 * Counts lost registrations (a live instance missing from a listing) and
 * spurious leave events (a leave for an instance that never stopped); both
 * must be 0. Short by default; `SOAK_INSTANCES=500 SOAK_SECONDS=600` (see
 * `deno task soak:full`) for the long run. Bounded: it stops by itself.
 */

import { startForSetup } from "./_registration.ts";
import assert from "node:assert/strict";
import { Registry } from "../mod.ts";
import { RedisDriver } from "../drivers/redis/mod.ts";
import { RedisServer, redisTest, sleep } from "./_redis_server.ts";
import { figure } from "./_figures.ts";
import { eventually } from "./discovery/_discovery_suite.ts";

const INSTANCES = Number(Deno.env.get("SOAK_INSTANCES") ?? 100);
const SECONDS = Number(Deno.env.get("SOAK_SECONDS") ?? 10);
const INTERVAL = Number(Deno.env.get("SOAK_INTERVAL_MS") ?? 250);
const TTL = INTERVAL * 4;

Deno.test(redisTest(
  `soak: ${INSTANCES} instances for ${SECONDS}s lose nothing and report no spurious leave`,
  async () => {
    await using server = await RedisServer.start();
    const drivers = await Promise.all(
      Array.from(
        { length: 4 },
        () =>
          RedisDriver.connect({
            url: server.url,
            commandTimeout: Math.floor(INTERVAL / 2),
          }),
      ),
    );
    const registries: Registry[] = [];
    const watcher = new Registry({
      driver: drivers[0]!,
      heartbeatInterval: INTERVAL,
      ttl: TTL,
    });
    const controller = new AbortController();
    let spuriousLeaves = 0;
    let lostInListings = 0;
    let listings = 0;
    let failedListings = 0;
    let reregistrations = 0;
    try {
      for (let i = 0; i < INSTANCES; i++) {
        const registry = await startForSetup(
          () =>
            new Registry({
              driver: drivers[i % drivers.length]!,
              service: `svc-${i % 5}`,
              id: `soak-${i}`,
              heartbeatInterval: INTERVAL,
              ttl: TTL,
            }),
          3,
          TTL + 100,
        );
        registry.on("reregistered", () => reregistrations++);
        registries.push(registry);
      }
      const events = (async () => {
        for await (
          const event of watcher.watch(undefined, { signal: controller.signal })
        ) {
          if (event.type === "leave") spuriousLeaves++;
        }
      })();
      const ids = new Set(registries.map((r) => r.id));
      const end = Date.now() + SECONDS * 1000;
      while (Date.now() < end) {
        // A listing may fail (its command timeout is short, and a loaded
        // machine misses it); one that answers must be whole.
        const answer = await drivers[1]!.list({ env: "default" }).catch(
          () => undefined,
        );
        if (answer === undefined) failedListings++;
        else {
          const listed = new Set(answer.map((i) => i.id));
          listings++;
          for (const id of ids) {
            if (!listed.has(id as string)) lostInListings++;
          }
        }
        await sleep(INTERVAL);
      }
      controller.abort();
      await events;
      console.log(
        `soak: ${INSTANCES} instances, ${SECONDS}s, ${listings} listings (${failedListings} failed), ${lostInListings} lost, ${spuriousLeaves} spurious leaves, ${reregistrations} re-registrations`,
      );
      const name = `soak ${INSTANCES} × ${SECONDS}s`;
      figure(name, "lost registrations", lostInListings);
      figure(name, "spurious leave events", spuriousLeaves);
      figure(name, "listings checked", listings);
      assert.equal(lostInListings, 0, "lost registrations");
      assert.equal(spuriousLeaves, 0, "spurious leave events");
      assert.equal(reregistrations, 0, "re-registrations");
      assert.ok(listings > 0, "no listing answered");
      // A beat that missed its short timeout a moment ago heals by itself.
      await eventually(
        "every registry beating",
        () => registries.every((r) => r.heartbeatState === "healthy"),
        10_000,
      );
    } finally {
      controller.abort();
      await watcher.stop();
      for (const registry of registries) await registry.stop();
      for (const driver of drivers) await driver.close();
    }
  },
));
