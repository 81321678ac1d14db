/**
 * The runner's `/metrics` text passes Prometheus's own parser
 * (`promtool check metrics`, from Debian's prometheus package).
 */

import assert from "node:assert/strict";
import { MemoryDriver } from "../../../testing/mod.ts";
import { Registry } from "../../../mod.ts";
import { RunnerMetrics } from "../../../runner/http/metrics.ts";
import { startStatusServer } from "../../../runner/http/status_server.ts";
import { eventually } from "../../discovery/_discovery_suite.ts";
import { installedBinary, serverTest } from "../../_server_test.ts";

const PROMTOOL = installedBinary(
  "/usr/bin/promtool",
  "/usr/local/bin/promtool",
);

Deno.test(serverTest(
  PROMTOOL ? undefined : "promtool is not installed",
  "/metrics passes 'promtool check metrics'",
  async () => {
    const driver = new MemoryDriver();
    const metrics = new RunnerMetrics();
    // The registry records into the runner's provider: one pipeline.
    await using registry = new Registry({
      driver,
      service: "api",
      id: "api-1",
      meta: { zone: 'eu "1"\\' },
      heartbeatInterval: 20,
      ttl: 200,
      meterProvider: metrics.provider,
    });
    let beats = 0;
    registry.on("heartbeat", () => beats++);
    metrics.follow(registry);
    metrics.served = true;
    await registry.start();
    await using other = new Registry({ driver, service: "web", id: "web-1" });
    await other.start();
    await using reader = new Registry({ driver });
    await using server = await startStatusServer(
      { hostname: "127.0.0.1", port: 0, token: undefined },
      reader,
      metrics,
    );
    await eventually("a few heartbeats", () => beats >= 3);
    const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`))
      .text();
    assert.match(text, /^roster_up 1$/m);
    // The library's instruments, under the names the runner has served.
    assert.match(text, /^roster_heartbeats_total [3-9]|[1-9]\d+$/m);
    assert.match(text, /^roster_heartbeat_latency_seconds_count [1-9]/m);
    const check = new Deno.Command(PROMTOOL!, {
      args: ["check", "metrics"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = check.stdin.getWriter();
    await writer.write(new TextEncoder().encode(text));
    await writer.close();
    const { code, stdout, stderr } = await check.output();
    const said = new TextDecoder().decode(stdout) +
      new TextDecoder().decode(stderr);
    assert.equal(code, 0, `${said}\n${text}`);
    // promtool also lints names and help; it says nothing when all is well.
    assert.equal(said.trim(), "", said);
  },
));
