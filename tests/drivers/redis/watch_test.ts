import assert from "node:assert/strict";
import { registration } from "../../_registration.ts";
import { Registry } from "../../../mod.ts";
import { RedisDriver } from "../../../drivers/redis/mod.ts";
import { RedisServer, redisTest, sleep } from "../../_redis_server.ts";
import { TcpProxy } from "../../_tcp_proxy.ts";
import { collect, eventually } from "../../discovery/_discovery_suite.ts";

const INTERVAL = 100;
const TTL = 400;

Deno.test(redisTest(
  "a watcher whose connection is cut and restored reports exactly the changes meanwhile",
  async () => {
    await using server = await RedisServer.start();
    await using proxy = new TcpProxy(server.port);
    const direct = await RedisDriver.connect({
      url: server.url,
      commandTimeout: 500,
    });
    const viaProxy = await RedisDriver.connect({
      url: proxy.url,
      commandTimeout: 200,
    });
    const registries: Registry[] = [];
    const member = async (id: string) => {
      const registry = new Registry({
        driver: direct,
        service: "api",
        id,
        heartbeatInterval: INTERVAL,
        ttl: TTL,
      });
      registries.push(registry);
      await registry.start();
      return registry;
    };
    const watcher = new Registry({
      driver: viaProxy,
      ttl: TTL,
      heartbeatInterval: INTERVAL,
    });
    const states: string[] = [];
    watcher.on("view", ({ state }) => states.push(state));
    const controller = new AbortController();
    try {
      const a = await member("a");
      await member("b");
      const seen = collect(
        watcher.watch("api", { current: true, signal: controller.signal }),
      );
      await eventually("current", () => seen.events.length === 2);

      await proxy.cut();
      await eventually("stale", () => watcher.viewState === "stale");
      await assert.rejects(watcher.instances("api"), "a listing needs Redis");
      // Meanwhile: a leaves cleanly, c joins, and a crashed d comes and goes.
      await a.stop();
      await member("c");
      await direct.register(registration({ id: "d", ttl: TTL }));
      await sleep(TTL + 300);
      proxy.restore();
      await eventually("live again", () => watcher.viewState === "live", 5_000);
      await eventually("caught up", () => seen.events.length >= 6, 5_000);
      await sleep(INTERVAL * 3);
      controller.abort();
      await seen.done;
      assert.deepEqual(seen.lines(), [
        "join current a",
        "join current b",
        "leave deregistered a",
        "join registered c",
        "join registered d",
        "leave expired d",
      ]);
      assert.deepEqual(states, ["live", "stale", "live"]);
    } finally {
      controller.abort();
      await watcher.stop();
      for (const registry of registries) await registry.stop();
      await viaProxy.close();
      await direct.close();
    }
  },
));
