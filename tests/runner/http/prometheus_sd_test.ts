/**
 * A real Prometheus (Debian's `prometheus`) discovers three runners through
 * one runner's `GET /sd`, with the token the README shows, scrapes them,
 * and drops one that crashed.
 */

import assert from "node:assert/strict";
import { figure } from "../../_figures.ts";
import { freePort, REDIS_BINARY, RedisServer } from "../../_redis_server.ts";
import { installedBinary, serverTest } from "../../_server_test.ts";
import {
  type RunnerProcess,
  spawnRunner,
  writeConfig,
} from "../../_runner_process.ts";
import { eventually } from "../../discovery/_discovery_suite.ts";
import type { TargetGroup } from "../../../runner/http/service_discovery.ts";

const PROMETHEUS = installedBinary(
  "/usr/bin/prometheus",
  "/usr/local/bin/prometheus",
);
const TOKEN = "s3cret-token-for-prometheus";
const TTL_MS = 1_000;
const REFRESH_MS = 1_000;
/** How often Prometheus's discovery manager passes changes to scrapers. */
const PROMETHEUS_UPDATE_MS = 5_000;

interface Target {
  health: string;
  scrapeUrl: string;
  discoveredLabels: Record<string, string>;
}

async function activeTargets(base: string): Promise<Target[]> {
  const response = await fetch(`${base}/api/v1/targets?state=active`);
  const body = await response.json();
  return body.data.activeTargets as Target[];
}

Deno.test(serverTest(
  !PROMETHEUS
    ? "prometheus is not installed"
    : !REDIS_BINARY
    ? "redis-server is not installed"
    : undefined,
  "a real Prometheus scrapes the instances /sd names, with the token, and drops one that crashed",
  async () => {
    await using redis = await RedisServer.start();
    const runners: RunnerProcess[] = [];
    const dir = await Deno.makeTempDir({ prefix: "roster-prometheus-" });
    let prometheus: Deno.ChildProcess | undefined;
    try {
      const ports: number[] = [];
      for (let i = 1; i <= 3; i++) {
        const port = freePort();
        ports.push(port);
        const runner = spawnRunner([
          "--config",
          await writeConfig(`[cluster]
driver = "redis"
service = "api"
id = "api-${i}"
version = "1.${i}.0"
addr = "http://127.0.0.1:${port}"
heartbeat_interval = "200ms"
ttl = "${TTL_MS}ms"
[cluster.meta]
zone = "eu-${i}"
[cluster.redis]
url = "${redis.url}"
[cluster.http]
listen = "127.0.0.1:${port}"
token = "${TOKEN}"
`),
        ]);
        runners.push(runner);
        await runner.waitForLine(/^roster: registered/);
      }
      const promPort = freePort();
      await Deno.writeTextFile(
        `${dir}/prometheus.yml`,
        `global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: roster
    authorization:
      type: Bearer
      credentials: ${TOKEN}
    http_sd_configs:
      - url: http://127.0.0.1:${ports[0]}/sd
        refresh_interval: ${REFRESH_MS / 1000}s
        # Prometheus 2.42 (Debian 12) sends the bare token to an SD
        # endpoint unless the type is named.
        authorization:
          type: Bearer
          credentials: ${TOKEN}
    relabel_configs:
      - source_labels: [__meta_roster_service]
        target_label: service
      - source_labels: [__meta_roster_id]
        target_label: instance_id
`,
      );
      prometheus = new Deno.Command(PROMETHEUS!, {
        args: [
          `--config.file=${dir}/prometheus.yml`,
          `--storage.tsdb.path=${dir}/data`,
          `--web.listen-address=127.0.0.1:${promPort}`,
        ],
        stdout: "null",
        stderr: "null",
      }).spawn();
      const base = `http://127.0.0.1:${promPort}`;
      const up = await eventually(
        "Prometheus scrapes all three, up",
        async () => {
          const targets = await activeTargets(base).catch(() => []);
          return targets.length === 3 &&
              targets.every((t) => t.health === "up")
            ? targets
            : undefined;
        },
        30_000,
      );
      assert.deepEqual(
        up.map((t) => t.discoveredLabels.__meta_roster_id).sort(),
        ["api-1", "api-2", "api-3"],
      );
      const third = up.find((t) =>
        t.discoveredLabels.__meta_roster_id === "api-3"
      )!;
      assert.equal(third.discoveredLabels.__meta_roster_zone, "eu-3");
      assert.equal(third.discoveredLabels.__meta_roster_version, "1.3.0");
      assert.equal(third.discoveredLabels.__meta_roster_stale, "false");
      assert.equal(third.scrapeUrl, `http://127.0.0.1:${ports[2]}/metrics`);

      // A crash: no deregistration. /sd drops it once the registry expires
      // it; Prometheus at its next refresh, and its discovery manager hands
      // changes to the scrapers at most every 5 s.
      runners[2]!.child.kill("SIGKILL");
      const crashedAt = Date.now();
      await eventually(
        "/sd without the crashed instance",
        async () => {
          const response = await fetch(`http://127.0.0.1:${ports[0]}/sd`, {
            headers: { authorization: `Bearer ${TOKEN}` },
          });
          const groups = await response.json() as TargetGroup[];
          return groups.length === 2;
        },
        // The promise: gone within ttl + 1 s, for any observer.
        TTL_MS + 1_000,
      );
      const sdAfter = Date.now() - crashedAt;
      await eventually(
        "the crashed instance's target dropped by Prometheus",
        async () => {
          const targets = await activeTargets(base).catch(() => undefined);
          return targets !== undefined &&
            !targets.some((t) =>
              t.discoveredLabels.__meta_roster_id === "api-3"
            );
        },
        TTL_MS + 1_000 + REFRESH_MS + PROMETHEUS_UPDATE_MS + 2_000,
      );
      const promAfter = Date.now() - crashedAt;
      figure(
        "Prometheus http_sd",
        "crash gone from /sd after (ms), ttl 1 s",
        sdAfter,
      );
      figure(
        "Prometheus http_sd",
        "crashed target dropped by Prometheus after (ms), refresh 1 s",
        promAfter,
      );
    } finally {
      if (prometheus) {
        prometheus.kill("SIGTERM");
        await prometheus.status;
      }
      for (const runner of runners) await runner[Symbol.asyncDispose]();
      await Deno.remove(dir, { recursive: true });
    }
  },
));
