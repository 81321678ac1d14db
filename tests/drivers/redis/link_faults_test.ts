/**
 * Faults of the link between a process and Redis, through a loopback proxy
 * the test controls: dropped, delayed past the command timeout, blackholed
 * past the ttl, then healed. After each: the process is listed again within
 * a heartbeat interval, nothing crashed, beats did not pile up, and a
 * watcher's events replay to the server's state.
 */

import assert from "node:assert/strict";
import { type Instance, Registry } from "../../../mod.ts";
import { RedisDriver } from "../../../drivers/redis/mod.ts";
import {
  monitorCommands,
  RedisServer,
  redisTest,
  sleep,
} from "../../_redis_server.ts";
import { TcpProxy } from "../../_tcp_proxy.ts";
import { collect, eventually } from "../../discovery/_discovery_suite.ts";
import { figure } from "../../_figures.ts";

const INTERVAL = 200;
const TTL = 800;

Deno.test(redisTest(
  "dropped, delayed and blackholed links heal with the invariants intact",
  async (t) => {
    await using server = await RedisServer.start();
    await using proxy = new TcpProxy(server.port);
    const admin = await server.admin();
    const direct = await RedisDriver.connect({
      url: server.url,
      commandTimeout: 1_000,
    });
    const linked = await RedisDriver.connect({
      url: proxy.url,
      commandTimeout: 100,
    });
    const member = new Registry({
      driver: linked,
      service: "api",
      id: "linked",
      heartbeatInterval: INTERVAL,
      ttl: TTL,
    });
    const steady = new Registry({
      driver: direct,
      service: "api",
      id: "steady",
      heartbeatInterval: INTERVAL,
      ttl: TTL,
    });
    const watcher = new Registry({
      driver: direct,
      ttl: TTL,
      heartbeatInterval: INTERVAL,
    });
    const controller = new AbortController();
    try {
      await member.start();
      await steady.start();
      const seen = collect(
        watcher.watch("api", { current: true, signal: controller.signal }),
      );
      await eventually("current", () => seen.events.length === 2);

      const faults: [string, () => void | Promise<void>, number][] = [
        ["dropped", () => proxy.cut(), 600],
        ["delayed past the command timeout", () => proxy.delay(300), 1_200],
        ["blackholed past the ttl", () => proxy.blackhole(), TTL * 2],
      ];
      for (const [name, fault, duration] of faults) {
        await t.step(name, async () => {
          const monitor = await monitorCommands(admin);
          const beatsSoFar = () =>
            monitor.seen.filter(({ args, fromLua }) =>
              !fromLua && String(args[0]).toLowerCase() === "evalsha" &&
              args.includes("linked")
            ).length;
          await fault();
          await sleep(duration);
          proxy.restore();
          proxy.heal();
          const healedAt = Date.now();
          // Listed again within one interval, give or take a reconnect.
          await eventually(
            "listed again",
            async () =>
              (await direct.list({ env: "default" })).some((i) =>
                i.id === "linked"
              ),
            5_000,
          );
          const back = Date.now() - healedAt;
          figure(`link ${name}`, "listed again after heal (ms)", back);
          assert.ok(back <= INTERVAL * 3, `back after ${back}ms`);
          assert.equal(member.state, "running", "no crash");
          await sleep(INTERVAL * 2);
          await monitor.stop();
          const beats = beatsSoFar();
          // Beats did not pile up: what reached Redis is about what the
          // heartbeat interval allows, not every attempt made meanwhile.
          const allowed =
            Math.ceil((duration + INTERVAL * 3 + back) / INTERVAL) + 2;
          figure(`link ${name}`, "heartbeats that reached Redis", beats);
          assert.ok(
            beats <= allowed,
            `${beats} beats reached Redis, at most ${allowed} expected`,
          );
          // The watcher's events, replayed, end where the server is.
          await sleep(300);
          const replayed = new Map<string, Instance>();
          for (const event of seen.events) {
            if (event.type === "leave") replayed.delete(event.instance.id);
            else replayed.set(event.instance.id, event.instance);
          }
          const live = await direct.list({ env: "default" });
          assert.deepEqual(
            [...replayed.values()].map((i) => `${i.id}:${i.seq}`).sort(),
            live.map((i) => `${i.id}:${i.seq}`).sort(),
          );
        });
      }
    } finally {
      controller.abort();
      await watcher.stop();
      await member.stop();
      await steady.stop();
      await linked.close();
      await direct.close();
    }
  },
));
