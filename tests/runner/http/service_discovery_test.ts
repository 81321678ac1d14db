import assert from "node:assert/strict";
import type { Instance } from "../../../mod.ts";
import { targetGroups } from "../../../runner/http/service_discovery.ts";

function instance(overrides: Partial<Instance>): Instance {
  return {
    id: "api-1",
    service: "api",
    env: "prod",
    version: "1.4.0",
    addr: "http://10.0.0.7:8080",
    meta: {},
    status: "healthy",
    weight: 100,
    seq: 1,
    hostname: "host-a",
    pid: 42,
    registeredAt: 0,
    heartbeatAt: 0,
    expiresAt: 0,
    heartbeatInterval: 5_000,
    ...overrides,
  };
}

Deno.test("each instance is a target group: its addr's host and port, and its facts as __meta_roster_ labels", () => {
  assert.deepEqual(
    targetGroups([
      instance({ meta: { zone: "eu-1", "team.name": "core", rack: "r7" } }),
    ]),
    [{
      targets: ["10.0.0.7:8080"],
      labels: {
        __meta_roster_id: "api-1",
        __meta_roster_service: "api",
        __meta_roster_env: "prod",
        __meta_roster_version: "1.4.0",
        __meta_roster_status: "healthy",
        __meta_roster_zone: "eu-1",
        __meta_roster_stale: "false",
        __meta_roster_meta_team_name: "core",
        __meta_roster_meta_rack: "r7",
      },
    }],
  );
});

Deno.test("metrics_port, metrics_path and metrics_scheme choose the scrape endpoint on the instance's host", () => {
  const [group] = targetGroups([
    instance({
      addr: "https://api.internal/v1",
      meta: {
        metrics_port: "9100",
        metrics_path: "/internal/metrics",
        metrics_scheme: "http",
      },
    }),
  ]);
  assert.deepEqual(group?.targets, ["api.internal:9100"]);
  assert.equal(group?.labels.__metrics_path__, "/internal/metrics");
  assert.equal(group?.labels.__scheme__, "http");
  assert.equal(group?.labels.__meta_roster_meta_metrics_port, undefined);
  // Without metrics_port: the addr's port, or its scheme's.
  const ports = targetGroups([
    instance({ addr: "https://api.internal" }),
    instance({ addr: "10.0.0.8:7000" }),
    instance({ addr: "http://[::1]:8080" }),
  ]).map((g) => g.targets[0]);
  assert.deepEqual(ports, ["api.internal:443", "10.0.0.8:7000", "[::1]:8080"]);
});

Deno.test("an instance without an addr is left out; a stale list says so in every group", () => {
  const groups = targetGroups([
    instance({ id: "no-addr", addr: "" }),
    instance({ id: "worker-1", status: "unhealthy" }),
  ], { stale: true });
  assert.deepEqual(groups.map((g) => g.labels.__meta_roster_id), ["worker-1"]);
  assert.equal(groups[0]?.labels.__meta_roster_stale, "true");
  assert.equal(groups[0]?.labels.__meta_roster_status, "unhealthy");
});
